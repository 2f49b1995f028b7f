"""How the platform compares account names (email addresses, usernames): one normal form.

:func:`account_key` is Unicode's compatibility caseless form of the whole name: NFKC, full
case folding, NFKC again (so ``SUE@example.com``, and ``sue@example.com`` spelt with a long s,
U+017F, or in full-width letters, U+FF53..., are all ``sue@example.com``). users-service stores
every account's email in this form under a unique constraint and looks logins up by it; the
login throttles count per key, so look-alikes of one account share its budget.
"""

from __future__ import annotations

import unicodedata

__all__ = ["account_key"]


def account_key(name: str) -> str:
    """The normal form two account names are compared in (surrounding spaces dropped)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())

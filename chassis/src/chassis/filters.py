"""django-filter glue: query filters that say when they are given nothing."""

from __future__ import annotations

import django_filters


class StrictFilterSet(django_filters.FilterSet):
    """A filter given as an empty parameter (``?created_before=``) is a 400, not silently
    "no filter": the OpenAPI schema documents a value, and a client that sends none has a
    bug worth reporting."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        blank = [name for name in self.filters if self.data.get(name) == ""]
        for name in blank:
            if name not in self.form.errors:  # a choice filter already refused it
                self.form.add_error(name, "This field may not be blank.")
        return valid and not blank

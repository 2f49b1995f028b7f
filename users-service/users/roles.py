"""What each staff group may do in users-service (chassis.roles). The groups themselves
live here: users-service is where staff are put in them, and its tokens carry them.

Support reads accounts and changes nothing; catalog editors and order managers have no
business here. Deactivating accounts, groups and staff rights are the superusers'.
"""

from chassis.roles import CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT

# The admin: Django model permissions of each group, synced after every migrate (which
# also creates the groups, so staff can be put in them at once).
GROUP_PERMISSIONS: dict[str, list[str]] = {
    CATALOG_EDITORS: [],
    ORDER_MANAGERS: [],
    SUPPORT: ["users.view_user"],
}

# The API: roles of the staff endpoints (chassis.roles.HasRole; superusers always).
READERS = (SUPPORT,)  # the accounts list and detail
MANAGERS: tuple[str, ...] = ()  # deactivating an account: superusers only

# `make up`'s demo staff, one per role (users/management/commands/ensure_demo_roles.py):
# email -> (group, name).
DEMO_ACCOUNTS = {
    "catalog-editor@example.com": (CATALOG_EDITORS, "Demo Catalog Editor"),
    "order-manager@example.com": (ORDER_MANAGERS, "Demo Order Manager"),
    "support@example.com": (SUPPORT, "Demo Support"),
}

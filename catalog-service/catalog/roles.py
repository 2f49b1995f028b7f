"""What each staff group of users-service may do in the catalog (chassis.roles).

Catalog editors change products, categories and stock (stock through the ledger: the product
form's stock change); order managers and support look (an order manager checks the stock an
order released). Superusers do everything; any other staff member, nothing.
"""

from chassis.roles import CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT

_READ = [
    "catalog.view_product",
    "catalog.view_category",
    "catalog.view_stockmovement",
    "catalog.view_reservation",
]

# The admin: Django model permissions of each local group, synced after every migrate.
GROUP_PERMISSIONS = {
    CATALOG_EDITORS: [
        *_READ,
        "catalog.add_product",
        "catalog.change_product",
        "catalog.add_category",
        "catalog.change_category",
        "catalog.delete_category",
    ],
    ORDER_MANAGERS: _READ,
    SUPPORT: _READ,
}

# The API: roles of the staff endpoints (chassis.roles.HasRole; superusers always).
WRITERS = (CATALOG_EDITORS,)  # product, category and stock writes
LEDGER_READERS = (CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT)  # the stock ledger

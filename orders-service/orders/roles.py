"""What each staff group of users-service may do in orders (chassis.roles).

Order managers read every order and cancel (through the saga: ``order.cancelled``) or ship
them; support reads them and changes nothing; catalog editors have no business here (the
orders admin refuses them). Superusers do everything.
"""

from chassis.roles import ORDER_MANAGERS, SUPPORT

_READ = ["orders.view_order", "orders.view_orderline", "orders.view_product", "orders.view_account"]

# The admin: Django model permissions of each local group, synced after every migrate.
# ``change_order`` is the cancel and ship actions: an order's fields are never edited.
GROUP_PERMISSIONS = {
    ORDER_MANAGERS: [*_READ, "orders.change_order"],
    SUPPORT: _READ,
}

# The API: roles of the staff endpoints (chassis.roles.HasRole; superusers always).
READERS = (ORDER_MANAGERS, SUPPORT)  # every buyer's orders (others see their own)
MANAGERS = (ORDER_MANAGERS,)  # cancel anyone's order, ship

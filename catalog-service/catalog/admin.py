"""Staff admin for the catalog. Every write goes through catalog.services, so the admin keeps
the same rules as the API: stock changes are ledger rows, unique values are checked, a
category cannot become its own ancestor."""

from __future__ import annotations

from typing import Any

from chassis.admin import ReadOnlyAdminMixin
from chassis.backoffice import Panel, confirmed_action, short_uuid
from chassis.errors import DomainError
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog import services
from catalog.models import Category, Product, Reservation, StockMovement
from catalog.serializers import MAX_STOCK, STAFF_REASONS


def _actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


class ProductForm(forms.ModelForm):
    """The product, plus a stock change applied through the ledger on save."""

    stock_change = forms.IntegerField(
        required=False,
        min_value=-MAX_STOCK,
        max_value=MAX_STOCK,
        help_text="Units to add (negative: remove). Recorded in the stock ledger.",
    )
    stock_reason = forms.ChoiceField(
        choices=[(r.value, r.label) for r in STAFF_REASONS],
        initial=StockMovement.Reason.RESTOCK,
        required=False,
    )

    class Meta:
        model = Product
        fields = (
            "sku",
            "name",
            "slug",
            "description",
            "price",
            "currency",
            "category",
            "is_active",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        change = data.get("stock_change")
        current = self.instance.stock if self.instance.pk else 0
        if change and current + change < 0:
            raise ValidationError({"stock_change": f"Stock is {current}: cannot remove more."})
        return data


def attention(request: HttpRequest) -> list[Panel]:
    """The catalog admin's "needs attention": active products at or below the low-stock
    threshold (CATALOG_LOW_STOCK)."""
    low = Product.objects.filter(is_active=True, stock__lte=settings.CATALOG_LOW_STOCK).count()
    title = f"Products at or below {settings.CATALOG_LOW_STOCK} in stock"
    return [Panel(title, low, "catalog/product/?low_stock=yes&is_active__exact=1")]


class LowStockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "low_stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", f"At or below {settings.CATALOG_LOW_STOCK}")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        if self.value() == "yes":
            return queryset.filter(stock__lte=settings.CATALOG_LOW_STOCK)
        return queryset


class StockAdjustForm(forms.Form):
    """The "adjust stock" action's confirmation: units for each selected product."""

    stock_change = forms.IntegerField(
        min_value=-MAX_STOCK, max_value=MAX_STOCK, help_text="Units to add (negative: remove)."
    )
    stock_reason = forms.ChoiceField(choices=[(r.value, r.label) for r in STAFF_REASONS])


class StockMovementInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = StockMovement
    fields = ("created_at", "delta", "stock_after", "reason", "reference", "actor")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
    list_display = ("sku", "name", "category", "price", "currency", "stock", "is_active")
    list_editable = ("price", "is_active")
    list_filter = (LowStockFilter, "is_active", "currency", "category")
    list_select_related = ("category",)
    search_fields = ("=sku", "name")
    autocomplete_fields = ("category",)
    readonly_fields = ("stock", "created_at", "updated_at")
    prepopulated_fields = {"slug": ("name",)}
    show_full_result_count = False  # no second COUNT(*) over a million rows per page
    inlines = (StockMovementInline,)
    fieldsets = (
        (None, {"fields": ("sku", "name", "slug", "category", "is_active")}),
        ("Price", {"fields": ("price", "currency")}),
        ("Stock", {"fields": ("stock", "stock_change", "stock_reason")}),
        ("Description", {"fields": ("description",)}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    actions = ("deactivate_products", "adjust_stock")

    def has_delete_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        """Products are deactivated, never deleted: a deletion would emit no event, and orders'
        read model would keep accepting the product (deactivation emits ``product.changed``)."""
        return False

    @confirmed_action(
        "Deactivate selected products (hidden, refused by new orders)",
        done="Deactivated {count} product(s).",
        permissions=["change"],
    )
    def deactivate_products(self, request: HttpRequest, product: Product) -> None:
        services.product_deactivate(product=product)

    @confirmed_action(
        "Adjust the stock of selected products (through the ledger)",
        done="Stock adjusted for {count} product(s).",
        permissions=["change"],
        form=StockAdjustForm,
    )
    def adjust_stock(
        self, request: HttpRequest, product: Product, *, stock_change: int, stock_reason: str
    ) -> None:
        services.stock_adjust(
            product_id=product.pk,
            mode="increment",
            quantity=stock_change,
            reason=stock_reason,
            actor=_actor(request),
        )

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        fields = {name: getattr(obj, name) for name in services.PRODUCT_EDITABLE}
        if change:
            changed = {name: fields[name] for name in form.changed_data if name in fields}
            services.product_update(product=obj, data=changed)
        else:
            created = services.product_create(**fields, actor=_actor(request))
            obj.pk, obj.stock, obj.created_at = created.pk, created.stock, created.created_at
            obj._state.adding = False
        delta = form.cleaned_data.get("stock_change")
        if delta:
            try:  # checked in the form; an order may have taken the units since
                result = services.stock_adjust(
                    product_id=obj.pk,
                    mode="increment",
                    quantity=delta,
                    reason=form.cleaned_data.get("stock_reason") or "correction",
                    actor=_actor(request),
                )
                obj.stock = result.product.stock
            except services.InsufficientStock as exc:
                messages.error(request, f"Stock not changed: {exc.detail}")


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("name", "slug", "parent")

    def clean_parent(self) -> Category | None:
        parent = self.cleaned_data.get("parent")
        try:
            services.category_parent_check(category=self.instance, parent=parent)
        except DomainError as exc:
            raise ValidationError(exc.detail) from exc
        return parent


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
    list_display = ("name", "slug", "parent")
    list_select_related = ("parent",)
    search_fields = ("name", "slug")
    autocomplete_fields = ("parent",)
    prepopulated_fields = {"slug": ("name",)}

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data}
            services.category_update(category=obj, data=data)
        else:
            created = services.category_create(name=obj.name, slug=obj.slug, parent=obj.parent)
            obj.pk = created.pk
            obj._state.adding = False

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Category]) -> None:
        for category in queryset:
            services.category_delete(category=category)


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger, read-only: corrections are new movements, never edits."""

    list_display = ("created_at", "product", "delta", "stock_after", "reason", "reference", "actor")
    list_filter = ("reason",)
    list_select_related = ("product",)
    search_fields = ("=product__sku", "reference", "actor")
    show_full_result_count = False


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Stock held by orders, read-only: written by the order saga's event handlers."""

    list_display = ("created_at", short_uuid("order_id", "order"), "status", "currency")
    list_filter = ("status",)
    search_fields = ("=order_id",)
    readonly_fields = ("order_id", "status", "currency", "lines", "created_at", "updated_at")
    show_full_result_count = False

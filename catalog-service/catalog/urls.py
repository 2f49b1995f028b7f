from django.urls import path

from catalog import apis

urlpatterns = [
    path("products/", apis.ProductCollectionApi.as_view(), name="product-list"),
    path("products/<int:product_id>", apis.ProductDetailApi.as_view(), name="product-detail"),
    path(
        "products/by-slug/<slug:slug>",
        apis.ProductDetailBySlugApi.as_view(),
        name="product-by-slug",
    ),
    path(
        "products/<int:product_id>/deactivate",
        apis.ProductDeactivateApi.as_view(),
        name="product-deactivate",
    ),
    path("products/<int:product_id>/stock", apis.StockAdjustApi.as_view(), name="product-stock"),
    path(
        "products/<int:product_id>/stock-movements",
        apis.StockMovementCollectionApi.as_view(),
        name="product-stock-movements",
    ),
    path("categories/", apis.CategoryCollectionApi.as_view(), name="category-list"),
    path("categories/tree", apis.CategoryTreeDetailApi.as_view(), name="category-tree"),
    path("categories/<int:category_id>", apis.CategoryDetailApi.as_view(), name="category-detail"),
]

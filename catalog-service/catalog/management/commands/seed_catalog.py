"""Seed a realistic demo catalog: a category tree and N products, in bulk.

    python manage.py seed_catalog --products 10000
    python manage.py seed_catalog --products 200 --if-empty   # what `make up` runs

Products get varied names, descriptions, prices and stock (about one in ten out of stock),
creation dates spread over two years, and a category leaf. Each product's initial stock is
its first ledger movement, as for products created through the API. Rows are inserted in
batches (``--batch``), each batch one transaction; a second run adds N more products after
the existing ones. Deterministic for a given ``--seed``.

Each product is announced as the API announces it: one ``product.changed`` outbox row,
written in the batch's transaction. The rows are bulk-inserted (catalog.events.
product_changed_outbox_bulk: same validated payload and columns as ``publish()``), because
``publish()`` per product would cost one INSERT and one after-commit relay transaction per
row; the outbox sweep sends them. ``--no-events`` writes none (benchmarks seeding a million
products for reads only; ``manage.py publish_products`` can announce them later).
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from tqdm import tqdm

from catalog.events import product_changed_outbox_bulk
from catalog.models import Category, Product, StockMovement

SKU_PREFIX = "SEED-"

# root -> leaf -> nouns of that leaf
TREE: dict[str, dict[str, list[str]]] = {
    "Clothing": {
        "Shirts": ["Shirt", "Oxford Shirt", "Flannel Shirt", "Linen Shirt"],
        "Jackets": ["Jacket", "Parka", "Rain Jacket", "Bomber Jacket"],
        "Trousers": ["Chinos", "Jeans", "Cargo Trousers", "Joggers"],
        "Knitwear": ["Sweater", "Cardigan", "Hoodie", "Turtleneck"],
    },
    "Footwear": {
        "Sneakers": ["Sneakers", "Running Shoes", "Court Shoes", "Trail Runners"],
        "Boots": ["Chelsea Boots", "Hiking Boots", "Work Boots", "Rain Boots"],
        "Sandals": ["Sandals", "Slides", "Espadrilles", "Flip-Flops"],
    },
    "Home": {
        "Kitchen": ["Chef Knife", "Skillet", "Dutch Oven", "Cutting Board", "Kettle"],
        "Bedding": ["Duvet Cover", "Pillowcase", "Throw Blanket", "Fitted Sheet"],
        "Lighting": ["Desk Lamp", "Floor Lamp", "Pendant Light", "Lantern"],
    },
    "Electronics": {
        "Audio": ["Headphones", "Earbuds", "Bluetooth Speaker", "Turntable"],
        "Computing": ["Keyboard", "Mouse", "USB-C Hub", "Monitor Stand", "Webcam"],
        "Wearables": ["Smartwatch", "Fitness Band", "Watch Strap"],
    },
    "Outdoors": {
        "Camping": ["Tent", "Sleeping Bag", "Camp Stove", "Headlamp"],
        "Cycling": ["Bike Light", "Helmet", "Saddle Bag", "Bike Lock"],
        "Water Sports": ["Dry Bag", "Paddle", "Wetsuit", "Snorkel Set"],
    },
    "Books": {
        "Fiction": ["Novel", "Short Story Collection", "Graphic Novel"],
        "Cooking": ["Cookbook", "Baking Guide", "Spice Handbook"],
        "Travel": ["Travel Guide", "Road Atlas", "Phrasebook"],
    },
}
ADJECTIVES = [
    "Classic", "Essential", "Lightweight", "Heavy-Duty", "Vintage", "Modern", "Compact",
    "Premium", "Everyday", "Rugged", "Slim", "Relaxed", "Waterproof", "Organic", "Recycled",
    "Handmade", "Nordic", "Urban", "Alpine", "Coastal",
]  # fmt: skip
MATERIALS = [
    "Cotton", "Wool", "Leather", "Canvas", "Denim", "Linen", "Bamboo", "Steel", "Oak",
    "Walnut", "Ceramic", "Cast Iron", "Nylon", "Merino", "Suede", "Cork", "Aluminium",
]  # fmt: skip
COLOURS = [
    "Black", "Navy", "Olive", "Sand", "Charcoal", "Rust", "Ivory", "Forest Green", "Sky Blue",
    "Burgundy", "Slate", "Mustard",
]  # fmt: skip
FEATURES = [
    "double-stitched seams", "a lifetime warranty", "a water-repellent finish",
    "fully recyclable packaging", "a relaxed fit", "reinforced corners", "a soft-touch lining",
    "a quick-release buckle", "a matte finish", "a dishwasher-safe body", "USB-C charging",
    "noise isolation", "a travel pouch", "adjustable straps", "a non-slip base",
]  # fmt: skip


class Command(BaseCommand):
    help = "Create a demo category tree and N products (bulk inserts, with a progress bar)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=1000, help="How many to add.")
        parser.add_argument("--batch", type=int, default=5000, help="Rows per insert.")
        parser.add_argument("--seed", type=int, default=42, help="Random seed.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when any product exists."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument(
            "--no-events", action="store_true", help="Write no product.changed outbox rows."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and Product.objects.exists():
            self.stdout.write("catalog already has products: nothing seeded")
            return
        leaves = self._categories()
        start = Product.objects.filter(sku__startswith=SKU_PREFIX).count()
        total, batch = options["products"], max(1, options["batch"])
        # Demo data, reproducible from --seed: not a secret.
        rng = random.Random(options["seed"] + start)  # noqa: S311
        now = timezone.now()
        with tqdm(
            total=total, unit="products", disable=options["no_progress"], smoothing=0.1
        ) as bar:
            for offset in range(0, total, batch):
                size = min(batch, total - offset)
                self._insert(rng, leaves, start + offset, size, now, not options["no_events"])
                bar.update(size)
        self.stdout.write(f"seeded {total} products in {len(leaves)} categories")

    def _categories(self) -> list[tuple[Category, list[str]]]:
        leaves = []
        for root_name, children in TREE.items():
            root, _ = Category.objects.get_or_create(
                slug=slugify(root_name), defaults={"name": root_name}
            )
            for leaf_name, nouns in children.items():
                leaf, _ = Category.objects.get_or_create(
                    slug=slugify(leaf_name), defaults={"name": leaf_name, "parent": root}
                )
                leaves.append((leaf, nouns))
        return leaves

    @transaction.atomic
    def _insert(
        self,
        rng: random.Random,
        leaves: list[tuple[Category, list[str]]],
        first: int,
        size: int,
        now: Any,
        events: bool,
    ) -> None:
        products = [self._product(rng, leaves, first + i, now) for i in range(size)]
        Product.objects.bulk_create(products, batch_size=size)
        if events:
            product_changed_outbox_bulk(products)
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    product_id=p.pk,
                    delta=p.stock,
                    stock_after=p.stock,
                    reason=StockMovement.Reason.INITIAL,
                    reference="seed",
                    actor="seed_catalog",
                    created_at=p.created_at,
                )
                for p in products
                if p.stock > 0
            ],
            batch_size=size,
        )

    def _product(
        self, rng: random.Random, leaves: list[tuple[Category, list[str]]], n: int, now: Any
    ) -> Product:
        category, nouns = leaves[n % len(leaves)]
        noun = rng.choice(nouns)
        adjective, material, colour = (
            rng.choice(ADJECTIVES),
            rng.choice(MATERIALS),
            rng.choice(COLOURS),
        )
        name = f"{adjective} {material} {noun}"
        sku = f"{SKU_PREFIX}{n + 1:07d}"
        features = rng.sample(FEATURES, 2)
        created = now - timedelta(seconds=rng.randrange(2 * 365 * 86_400))
        return Product(
            sku=sku,
            name=name,
            slug=f"{slugify(name)}-{sku.lower()}",
            description=(
                f"A {adjective.lower()} {noun.lower()} in {colour.lower()} {material.lower()}, "
                f"with {features[0]} and {features[1]}."
            ),
            price=Decimal(rng.randrange(199, 49_999)) / 100,
            currency=settings.CATALOG_DEFAULT_CURRENCY,
            stock=0 if rng.random() < 0.1 else rng.randrange(1, 250),
            category=category,
            created_at=created,
            updated_at=created,
        )

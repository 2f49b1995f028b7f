"""Set-up and inspection for infra/bench/catalog_scale.py, run in-process with catalog-service's
virtual environment and the floor's settings (DJANGO_SETTINGS_MODULE=catalog_floor.settings).

    python probe.py keys DEPTH          # deep cursors (every ordering) and a detail id
    python probe.py inspect URL...      # the queries behind each URL, with their plans

``keys``: for each public ordering, the cursor of the active product DEPTH (0..1) of the way
through that ordering, encoded as chassis.keyset.KeysetPaginator encodes its ``next`` links
(base64url JSON: ordering, [value, id], reverse); and the id of the active product DEPTH of the
way through the ids. One JSON object on stdout.

``inspect``: for every URL (the real endpoints and the floor's): the HTTP status, every SQL
statement the request ran, whether one of them counts rows, and for each the plan PostgreSQL
chose (EXPLAIN ANALYZE: node types, indexes used, sequential scans, execution time). One JSON
object on stdout. The health check's ``SELECT 1`` (CONN_HEALTH_CHECKS) is not counted.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from typing import Any

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def walk(node: dict[str, Any], found: list[str], indexes: set[str], seqs: set[str]) -> None:
    kind = node["Node Type"]
    if "Index Name" in node:
        kind += f" {node['Index Name']}"
        indexes.add(node["Index Name"])
    elif "Relation Name" in node:
        kind += f" {node['Relation Name']}"
    if node["Node Type"] == "Seq Scan":
        seqs.add(node.get("Relation Name", "?"))
    found.append(kind)
    for child in node.get("Plans", []):
        walk(child, found, indexes, seqs)


def explain(sql: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    nodes: list[str] = []
    indexes: set[str] = set()
    seqs: set[str] = set()
    walk(plan[0]["Plan"], nodes, indexes, seqs)
    return {
        "execution_ms": round(plan[0]["Execution Time"], 3),
        "nodes": nodes,
        "indexes": sorted(indexes),
        "seq_scans": sorted(seqs),
    }


def inspect(client: Client, url: str) -> dict[str, Any]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    statements = [q["sql"] for q in captured.captured_queries if q["sql"].strip() != "SELECT 1"]
    counts = any(re.search(r"\bCOUNT\s*\(", sql, re.I) for sql in statements)
    return {
        "url": url,
        "status": response.status_code,
        "queries": len(statements),
        "counts_rows": counts,
        "statements": [{"sql": sql, **explain(sql)} for sql in statements],
    }


def cursor(ordering: str, field: str, row: dict[str, Any]) -> str:
    value = row[field]
    key = [value.isoformat() if hasattr(value, "isoformat") else str(value), row["id"]]
    payload = json.dumps({"o": ordering, "k": key, "r": False}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def keys(depth: float) -> dict[str, Any]:
    from catalog.models import Product
    from catalog.selectors import PRODUCT_ORDERINGS

    active = Product.objects.filter(is_active=True)
    offset = int(active.count() * depth)
    cursors = {}
    for name, order in PRODUCT_ORDERINGS.items():
        prefix = "-" if order.descending else ""
        ordered = active.order_by(prefix + order.field, prefix + "id")
        row = ordered.values(order.field, "id")[offset]
        cursors[name] = cursor(name, order.field, row)
    detail = active.order_by("id").values_list("id", flat=True)[offset]
    return {"active": active.count(), "offset": offset, "cursors": cursors, "detail_id": detail}


def main() -> None:
    command, *rest = sys.argv[1:]
    if command == "keys":
        print(json.dumps(keys(float(rest[0]))))
    else:
        client = Client(HTTP_HOST="127.0.0.1")
        print(json.dumps([inspect(client, url) for url in rest]))


if __name__ == "__main__":
    main()

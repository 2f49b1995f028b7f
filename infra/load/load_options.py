"""The load generator's own command-line options (beside Locust's: `locust --help`), and
the weights of the shoppers' actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# What shoppers do, by weight (--weight NAME=N changes one): mostly reading the catalog.
WEIGHTS = {
    "browse": 10,
    "product": 8,
    "filter": 5,
    "search": 4,
    "order": 3,
    "me": 2,
    "my_orders": 2,
    "cancel": 1,
}


def weights(changes: list[str]) -> dict[str, int]:
    """WEIGHTS with ``NAME=N`` changes (N=0 leaves the action out)."""
    chosen = dict(WEIGHTS)
    for change in changes:
        name, _, value = change.partition("=")
        if name not in WEIGHTS or not value.isdigit():
            raise SystemExit(f"--weight {change}: NAME=N with NAME one of {', '.join(WEIGHTS)}")
        chosen[name] = int(value)
    return chosen


def tasks(chosen: dict[str, int]) -> list[Any]:
    """Locust's task list: each action as many times as its weight (``user.act(name)``)."""
    return [action(name) for name, weight in chosen.items() for _ in range(weight)]


def action(name: str) -> Any:
    def act(user: Any) -> None:
        user.act(name)

    act.__name__ = name  # how Locust names it in its logs
    return act


def add_arguments(parser: Any) -> None:
    """The load's own options (Locust's init_command_line_parser event)."""
    load = ROOT / "var" / "load"
    add = parser.add_argument
    add(
        "--accounts-file",
        default=str(load / "accounts.json"),
        help="the shoppers' account pool (JSON), reused by later runs",
    )
    add(
        "--summary-json",
        default=str(load / "summary-latest.json"),
        help="where the end-of-run summary is written",
    )
    add(
        "--think-time",
        type=float,
        nargs=2,
        default=[2.0, 8.0],
        metavar=("MIN", "MAX"),
        help="seconds between a shopper's actions",
    )
    add(
        "--max-open-orders",
        type=int,
        default=8,
        help="a shopper cancels its oldest CONFIRMED order first when it has this many open",
    )
    add(
        "--refresh-after",
        type=float,
        default=0.0,
        help="refresh access tokens this many seconds after issue (0: 30 s before expiry)",
    )
    add(
        "--settle-timeout",
        type=float,
        default=120.0,
        help="seconds to follow the orders still PENDING when the run stops",
    )
    add(
        "--actions-per-second",
        type=float,
        default=0.0,
        help="pace the shoppers to this many actions a second in all (each 1-8 requests), "
        "instead of --think-time",
    )
    add(
        "--weight",
        action="append",
        default=[],
        metavar="NAME=N",
        help=f"an action's weight, again for each action to change (default {WEIGHTS})",
    )
    add(
        "--tour",
        action="store_true",
        help="every shopper first does each action once (in the weights' order), then by weight",
    )
    add(
        "--actions",
        type=int,
        default=0,
        help="every shopper stops after this many actions (its tour's included), and the run "
        "when all have (before --run-time, which stays the limit)",
    )
    add(
        "--max-fail-ratio",
        type=float,
        default=0.01,
        help="exit 1 when failures exceed this share of the requests",
    )

r"""Command line: render kong.yml for real Kong and for the local HAProxy gateway.

    python -m gateway check  --kong kong.yml
    python -m gateway render --kong kong.yml --jwks var/keys/users.jwks.json --out var/gateway \
        --listen 127.0.0.1:8000 --status-listen 127.0.0.1:8100 \
        --upstream users-service=127.0.0.1:8101

``render`` writes ``kong.yml`` (ready to load: jwt credentials filled in from the JWKS),
``haproxy.cfg``, ``keys/<kid>.pem`` (public keys only) and ``kong_errors.lua`` (Kong's error
responses) into ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

from gateway import haproxy, haproxy_metrics, kong


def render(args: argparse.Namespace) -> None:
    document = kong.load(args.kong)
    gateway = kong.parse(document)
    gateway.credentials = kong.credentials_from_jwks(kong.read_jwks(args.jwks))
    upstreams = dict(item.split("=", 1) for item in args.upstream)
    out: Path = args.out
    keys_dir, lua_file = out / "keys", out / "kong_errors.lua"
    shutil.rmtree(keys_dir, ignore_errors=True)
    shutil.rmtree(out / "errors", ignore_errors=True)  # left by renderers before Lua errors
    keys_dir.mkdir(parents=True)
    for credential in gateway.credentials:
        (keys_dir / f"{credential.key}.pem").write_text(credential.public_key_pem)
    shutil.copyfile(haproxy.LUA_ERRORS, lua_file)
    shutil.copyfile(
        haproxy_metrics.LUA_METRICS, lua_file.with_name(haproxy_metrics.LUA_METRICS.name)
    )
    rendered = kong.with_credentials(document, gateway.credentials)
    (out / "kong.yml").write_text(
        "# Rendered from gateway-config/kong.yml with the current public keys: do not edit.\n"
        + yaml.safe_dump(rendered, sort_keys=False)
    )
    config = haproxy.render(
        gateway,
        listen=args.listen,
        upstreams=upstreams,
        keys_dir=keys_dir.resolve(),
        lua_file=lua_file.resolve(),
        status_listen=args.status_listen,
    )
    (out / "haproxy.cfg").write_text(config)
    print(
        f"rendered {len(gateway.routes)} routes, {len(gateway.credentials)} credentials into {out}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="parse kong.yml and check the local gateway covers it")
    check.add_argument("--kong", type=Path, required=True)
    make = sub.add_parser("render", help="render for Kong and HAProxy")
    make.add_argument("--kong", type=Path, required=True)
    make.add_argument("--jwks", required=True, help="JWKS file or http(s) URL")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--listen", default="127.0.0.1:8000")
    make.add_argument("--status-listen", default="127.0.0.1:8100")
    make.add_argument(
        "--upstream",
        action="append",
        default=[],
        help="SERVICE=HOST:PORT[,HOST:PORT...] per Kong service (several: balanced)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            gateway = kong.parse(kong.load(args.kong))
            print(f"{args.kong}: {len(gateway.routes)} routes, all reproduced locally")
        else:
            render(args)
    except (kong.ConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

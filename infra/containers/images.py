#!/usr/bin/env python3
"""The service images, built offline: a Debian base made here, a wheelhouse made on the host.

    python3 infra/containers/images.py build [SERVICE ...]   # base, wheelhouses, images
    python3 infra/containers/images.py wheelhouse [SERVICE ...]
    python3 infra/containers/images.py base                  # print the base image's tag

Image registries may be out of reach (as on the machines the test suite runs on), and pip in a
build cannot always verify TLS, so nothing is pulled or downloaded during a build:

- base: ``debootstrap --variant=minbase bookworm`` with Python 3.11, ``docker import``-ed as
  ``platform-base:<recipe hash>`` (built once per recipe; ``BASE_IMAGE=python:3.11-slim-bookworm``
  in the environment uses that image instead, where registries answer);
- wheelhouse: ``var/wheelhouse/<dir>/``, every wheel of the service's ``requirements.lock`` for
  the image's platform (``pip download --only-binary=:all:``) plus the chassis wheel from
  ``var/wheels`` (``runner.py bootstrap`` builds it); remade only when the lock or the chassis
  wheel changed (``.key``);
- image: ``docker build --network=none -f <dir>/Dockerfile`` from the repository root with the
  legacy builder (``DOCKER_BUILDKIT=0``: works offline; the Dockerfiles build with BuildKit
  too, given ``--network=none`` or ``host`` on an engine without a bridge), whose layer cache
  skips every step whose inputs did not change.

Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import ensure_engine, sudo  # noqa: E402 - this directory, just added

from registry import load_services  # noqa: E402 - the runner's directory, just added

WHEELS = ROOT / "var" / "wheels"  # the chassis wheel (runner.py bootstrap)
WHEELHOUSE = ROOT / "var" / "wheelhouse"
PIP = ROOT / "var" / "tools" / "bin" / "pip"
SUITE = "bookworm"  # its python3 is 3.11, the services' Python
BASE_PACKAGES = ["python3", "python3-venv", "python-is-python3", "ca-certificates"]
# Bump when the recipe below changes in a way its inputs do not show.
BASE_RECIPE = "1"
PYTHON_VERSION = "3.11"
GLIBC_MINOR = 36  # bookworm's glibc 2.36: wheels for manylinux_2_<= 36 run on it
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def digest(*parts: bytes | str) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.hexdigest()


# --- base image ----------------------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (``DEBIAN_MIRROR`` overrides)."""
    if os.environ.get("DEBIAN_MIRROR"):
        return os.environ["DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        text = path.read_text(errors="replace") if path.is_file() else ""
        for uri in re.findall(r"(?:^deb\s+(?:\[[^]]*\]\s+)?|^URIs:\s*)(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def base_tag() -> str:
    return "platform-base:" + digest(SUITE, *BASE_PACKAGES, BASE_RECIPE)[:12]


def image_exists(tag: str) -> bool:
    return (
        subprocess.run(
            ["docker", "image", "inspect", tag], capture_output=True, check=False
        ).returncode
        == 0
    )


def ensure_base() -> str:
    """The base image's tag: ``BASE_IMAGE`` when set, else the local Debian one (made once)."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    tag = base_tag()
    if image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        sys.exit("debootstrap is not installed (python3 infra/local/runner.py bootstrap)")
    mirror = debian_mirror()
    say(f"building the base image {tag}: debootstrap {SUITE} from {mirror} (about 2 minutes)")
    started = time.monotonic()
    rootfs = ROOT / "var" / "images" / f"rootfs-{os.getpid()}"
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    try:
        include = "--include=" + ",".join(BASE_PACKAGES)
        debootstrap = [*sudo(), "debootstrap", "--variant=minbase", include, SUITE, str(rootfs)]
        subprocess.run([*debootstrap, mirror], check=True, stdout=subprocess.DEVNULL)
        # What an image does not need: the downloaded packages, apt's lists, documentation.
        trim = "var/cache/apt/archives/*.deb var/lib/apt/lists/* usr/share/doc/* usr/share/man/*"
        subprocess.run([*sudo(), "sh", "-c", f"cd {rootfs} && rm -rf {trim}"], check=True)
        tar = subprocess.Popen(
            [*sudo(), "tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
        )
        changes = ["--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]']
        subprocess.run(
            ["docker", "import", *changes, "-", tag],
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            sys.exit("tar of the base image's root filesystem failed")
    finally:
        subprocess.run([*sudo(), "rm", "-rf", str(rootfs)], check=False)
    say(f"base image {tag} built in {time.monotonic() - started:.0f} s")
    return tag


# --- wheelhouse ----------------------------------------------------------------------------


def platform_arguments() -> list[str]:
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine(), platform.machine())
    legacy = ["manylinux2014", "manylinux2010", "manylinux1"] if machine == "x86_64" else []
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 4, -1)]
    tags += [f"{name}_{machine}" for name in legacy]
    arguments = [f"--platform={tag}" for tag in tags]
    abi = "cp" + PYTHON_VERSION.replace(".", "")
    return [
        *arguments,
        f"--python-version={PYTHON_VERSION}",
        "--implementation=cp",
        f"--abi={abi}",
        "--abi=abi3",
        "--abi=none",
    ]


def chassis_wheel() -> Path:
    wheels = sorted(WHEELS.glob("platform_chassis-*.whl"))
    if len(wheels) != 1:
        sys.exit(
            f"expected one chassis wheel in {WHEELS} (python3 infra/local/runner.py bootstrap)"
        )
    return wheels[0]


def ensure_wheelhouse(service_dir: str) -> Path:
    """``var/wheelhouse/<dir>``: the service's locked wheels and the chassis wheel."""
    lock = ROOT / service_dir / "requirements.lock"
    chassis = chassis_wheel()
    arguments = platform_arguments()
    key = digest(lock.read_bytes(), chassis.name, chassis.read_bytes(), *arguments)
    house = WHEELHOUSE / service_dir
    marker = house / ".key"
    if marker.exists() and marker.read_text() == key:
        return house
    say(f"making the wheelhouse of {service_dir}")
    if house.exists():
        shutil.rmtree(house)
    house.mkdir(parents=True)
    # The chassis is pinned by version in the lock and comes from var/wheels, not PyPI.
    third_party = "".join(
        line + "\n"
        for line in lock.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "platform-chassis=="))
    )
    requirements = house / ".requirements.txt"
    requirements.write_text(third_party)
    subprocess.run(
        [
            str(PIP),
            "download",
            "-qq",  # errors only: a machine's extra indexes that are absent warn per package
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            *arguments,
            "--dest",
            str(house),
            "-r",
            str(requirements),
        ],
        check=True,
    )
    requirements.unlink()
    shutil.copy2(chassis, house / chassis.name)
    marker.write_text(key)
    return house


# --- images --------------------------------------------------------------------------------


def build(service_dir: str, base: str, tag: str) -> float:
    """``docker build`` of one service (legacy builder); the seconds it took."""
    started = time.monotonic()
    result = subprocess.run(
        [
            "docker",
            "build",
            "--quiet",
            "--network=none",  # offline, provably; and the engine here has no bridge
            "--build-arg",
            f"BASE_IMAGE={base}",
            "-f",
            f"{service_dir}/Dockerfile",
            "-t",
            tag,
            ".",
        ],
        cwd=ROOT,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        check=False,
        capture_output=True,  # recent clients warn that the legacy builder is deprecated
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"docker build of {service_dir} failed:\n{result.stdout}{result.stderr}")
    return time.monotonic() - started


def image_tag(service_dir: str, version: str = "latest") -> str:
    return f"platform/{service_dir}:{version}"


def build_all(names: list[str], version: str = "latest") -> dict[str, str]:
    """Every named service's image (all when none named): service name -> image tag."""
    services = load_services()
    chosen = names or list(services)
    ensure_engine()
    tags = {name: image_tag(services[name].dir, version) for name in chosen}
    # Side by side: the wheelhouses' downloads while debootstrap works, then the builds (each
    # waits on I/O part of the time: the context, the layers' commits).
    with ThreadPoolExecutor(max_workers=len(chosen) + 1) as pool:
        base = pool.submit(ensure_base)
        houses = [pool.submit(ensure_wheelhouse, services[name].dir) for name in chosen]
        for house in houses:
            house.result()
        builds = {
            name: pool.submit(build, services[name].dir, base.result(), tags[name])
            for name in chosen
        }
        for name, seconds in builds.items():
            say(f"image {tags[name]} ({seconds.result():.0f} s)")
    return tags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "wheelhouse", "base"])
    parser.add_argument("services", nargs="*", help="registry names (default: all)")
    parser.add_argument("--version", default="latest", help="the images' tag (build)")
    args = parser.parse_args()
    if args.command == "build":
        build_all(args.services, args.version)
    elif args.command == "wheelhouse":
        services = load_services()
        for name in args.services or list(services):
            print(ensure_wheelhouse(services[name].dir))
    else:
        ensure_engine()
        print(ensure_base())


if __name__ == "__main__":
    main()

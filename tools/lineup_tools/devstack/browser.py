"""Headless Chromium for the examiner console's browser tests: Debian's `chromium` and `chromium-driver`.

`python -m lineup_tools.devstack.browser` installs them with apt-get when they are missing (as root, or
through sudo when it needs no password) and prints the versions; it does nothing when both are present, so
`make test` can call it every time. Model hubs and browser downloads are out of reach here: the Debian
packages are the one browser source, and Selenium is pointed at their driver (it never fetches one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from lineup_tools.devstack.base import StackError

PACKAGES = ("chromium", "chromium-driver")


def find() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _apt(*args: str) -> None:
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise StackError(f"Chromium is missing and this user cannot install it: run as root "
                             f"`apt-get install -y {' '.join(PACKAGES)}`")
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run([*prefix, "apt-get", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise StackError(f"apt-get {' '.join(args)} failed ({done.returncode}): {' / '.join(tail)}")


def ensure() -> tuple[str, str]:
    """Both programs, installing them first when needed (a minute or two, once per machine)."""
    found = find()
    if found:
        return found
    if not shutil.which("apt-get"):
        raise StackError(f"Chromium is missing and there is no apt-get: install {' and '.join(PACKAGES)} (a "
                         "headless Chromium and its chromedriver) by other means")
    print(f"[browser] installing {' '.join(PACKAGES)} from Debian (apt-get; once per machine) ...", flush=True)
    _apt("update", "-q")
    _apt("install", "-y", "-q", "--no-install-recommends", *PACKAGES)
    found = find()
    if not found:
        raise StackError(f"apt-get installed {' '.join(PACKAGES)} but chromium/chromedriver are not on PATH")
    return found


def main() -> int:
    try:
        browser, driver = ensure()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    version = subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"[browser] {version or browser}; driver {driver}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

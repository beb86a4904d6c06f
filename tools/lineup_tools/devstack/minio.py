"""MinIO for the local stack: built from its Go module, started on 127.0.0.1:9000, buckets provisioned.

Why build from source: MinIO no longer publishes ready binaries for every commit and the Go module
proxy is reachable where download sites may not be; `go install` of one pinned module version gives a
reproducible binary that is cached outside the checkout (`<cache>/bin/minio-<version>`), so only the
first `make up` on a machine pays for the build.

Credentials come from LINEUP_MINIO_ACCESS_KEY / LINEUP_MINIO_SECRET_KEY. The defaults below are for
this loopback-only development server and must never be used for a deployment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from lineup.provision import ensure_buckets
from lineup_tools.devstack.base import Component, StackError, require_tool, run_checked

#: The pinned MinIO server module version. MinIO tags releases as `RELEASE.<date>` (not semver) and the
#: module proxy reachable here only serves this pseudo-version (master of 2026-02-12, commit 7aac2a2c5b7c);
#: `go install` fetches exactly it, with checksums verified against sum.golang.org.
MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
#: What `minio --version` reports; set through -ldflags the way MinIO's own Makefile does.
MINIO_BUILD_TIME = "2026-02-12T20:18:48Z"
MINIO_COMMIT = "7aac2a2c5b7c"

HOST = "127.0.0.1"
API_PORT = 9000
CONSOLE_PORT = 9001

#: Development-only defaults: the server only listens on loopback. Override via the environment.
DEV_ACCESS_KEY = "lineup-dev"
DEV_SECRET_KEY = "lineup-dev-secret-change-me"

#: MinIO's go.mod asks for go 1.24; GOTOOLCHAIN=local forbids fetching a newer toolchain, so check first.
MIN_GO = (1, 24)
#: Where the official Go tarball installs; used when `go` is not on PATH.
FALLBACK_GO = Path("/usr/local/go/bin/go")

#: A go build of MinIO downloads ~300 modules and compiles for minutes on a small machine.
BUILD_TIMEOUT_S = 3600.0


def credentials() -> tuple[str, str]:
    """The root credentials of the local server (and of the clients that talk to it)."""
    return (os.environ.get("LINEUP_MINIO_ACCESS_KEY", DEV_ACCESS_KEY),
            os.environ.get("LINEUP_MINIO_SECRET_KEY", DEV_SECRET_KEY))


def _find_go() -> str:
    """The `go` binary to build with (PATH first, then the official install location), checked >= 1.24."""
    hint = (f"install Go >= {MIN_GO[0]}.{MIN_GO[1]} (https://go.dev/dl/) and put its bin/ on PATH; "
            "MinIO is built from source with `go install`")
    go = str(FALLBACK_GO) if shutil.which("go") is None and FALLBACK_GO.is_file() else require_tool("go", hint)
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=30,
                             check=True, env={**os.environ, "GOTOOLCHAIN": "local"}).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise StackError(f"`{go} env GOVERSION` failed ({exc}); {hint}") from exc
    found = re.match(r"go(\d+)\.(\d+)", out.strip())
    if found is None or (int(found[1]), int(found[2])) < MIN_GO:
        raise StackError(f"{go} is {out.strip() or 'of unknown version'}; {hint}")
    return go


class Minio(Component):
    """A single-drive MinIO server whose data lives in `.state/data/minio`."""

    name = "minio"
    ports = (API_PORT, CONSOLE_PORT)
    start_timeout_s = 60.0

    # --- install ------------------------------------------------------------------------------
    @property
    def go_dir(self) -> Path:
        """GOPATH/GOMODCACHE/GOCACHE under the stack cache, so nothing depends on (or pollutes) ~/go."""
        return self.paths.cache_dir / "go"

    @property
    def binary(self) -> Path:
        return self.paths.cache_dir / "bin" / f"minio-{MINIO_VERSION}"

    @property
    def build_log(self) -> Path:
        return self.paths.log_dir / "minio-build.log"

    def build_environment(self, gobin: Path) -> dict[str, str]:
        """A Go environment confined to the cache dir; CGO off (MinIO's release builds use CGO_ENABLED=0)."""
        env = dict(os.environ)
        env.update({
            "GOPATH": str(self.go_dir),
            "GOMODCACHE": str(self.go_dir / "pkg" / "mod"),
            "GOCACHE": str(self.go_dir / "build-cache"),
            "GOBIN": str(gobin),
            "CGO_ENABLED": "0",
            # the local toolchain is newer than MinIO's go.mod asks for: never download another one
            "GOTOOLCHAIN": "local",
        })
        return env

    def install(self) -> None:
        """Build the pinned MinIO once with `go install`; reuse the cached binary afterwards."""
        if self.binary.is_file() and os.access(self.binary, os.X_OK):
            return
        go = _find_go()
        gobin = self.paths.cache_dir / "bin" / f".minio-build-{os.getpid()}"
        gobin.mkdir(parents=True, exist_ok=True)
        pkg = "github.com/minio/minio/cmd"
        ldflags = " ".join([
            "-s -w",
            f"-X {pkg}.Version={MINIO_BUILD_TIME}",
            f"-X {pkg}.ReleaseTag=DEVELOPMENT.{MINIO_BUILD_TIME.replace(':', '-')}",
            f"-X {pkg}.CommitID={MINIO_COMMIT}",
            f"-X {pkg}.ShortCommitID={MINIO_COMMIT}",
            f"-X {pkg}.CopyrightYear={MINIO_BUILD_TIME[:4]}",
        ])
        with open(self.build_log, "a") as log:
            log.write(f"\n=== go install {MINIO_MODULE}@{MINIO_VERSION} (GOPATH={self.go_dir})\n")
        try:
            run_checked([go, "install", "-trimpath", "-tags", "kqueue", "-ldflags", ldflags,
                         f"{MINIO_MODULE}@{MINIO_VERSION}"],
                        f"building MinIO {MINIO_VERSION} with `go install`",
                        env=self.build_environment(gobin), log=self.build_log, timeout=BUILD_TIMEOUT_S)
            built = gobin / "minio"
            if not built.is_file():
                raise StackError(f"go install finished but produced no minio binary (log: {self.build_log})")
            built.replace(self.binary)  # atomic: a half-built binary is never taken for a cached one
        finally:
            shutil.rmtree(gobin, ignore_errors=True)

    # --- run ----------------------------------------------------------------------------------
    def command(self) -> list[str]:
        return [str(self.binary), "server", str(self.data_dir), "--address", f"{HOST}:{API_PORT}",
                "--console-address", f"{HOST}:{CONSOLE_PORT}"]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        access, secret = credentials()
        env.update({
            "MINIO_ROOT_USER": access,
            "MINIO_ROOT_PASSWORD": secret,
            # no update check against dl.min.io at startup, no callhome to SUBNET: the dev stack works offline
            "MINIO_UPDATE": "off",
            "MINIO_CALLHOME_ENABLE": "off",
        })
        return env

    def healthy(self) -> bool:
        """MinIO's own liveness and readiness endpoints (unauthenticated), each with a 2 s budget."""
        for probe in ("live", "ready"):
            try:
                with urllib.request.urlopen(f"http://{HOST}:{API_PORT}/minio/health/{probe}", timeout=2) as r:
                    if r.status != 200:
                        return False
            except (OSError, urllib.error.URLError, ValueError):
                return False
        return True

    def version(self) -> str:
        return MINIO_VERSION

    def post_start(self) -> None:
        access, secret = credentials()
        try:
            ensure_buckets(f"{HOST}:{API_PORT}", access, secret)
        except Exception as exc:  # S3/HTTP errors: one actionable line instead of a traceback
            raise StackError(f"minio: creating buckets failed: {exc} (are LINEUP_MINIO_ACCESS_KEY/"
                             f"LINEUP_MINIO_SECRET_KEY the credentials the running server uses?)") from exc

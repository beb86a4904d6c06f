"""`make helm-check`: prove the Helm chart without a cluster.

No Kubernetes cluster or container engine runs where the project is built, so the chart is checked the way a
reviewer would want it checked: `helm lint --strict` and `helm template` with every scenario file in
`deploy/helm/lineup/ci/`, each rendered object validated against the strict JSON schemas of one pinned
Kubernetes version (PyPI `kubernetes-validate`, which rejects unknown fields), and every render compared with a
committed golden file, so any change to what the chart produces shows up in review. `--update-golden`
(`make helm-golden`) rewrites the goldens after a deliberate change.

Helm itself comes from the Go module proxy (`go install helm.sh/helm/v3/cmd/helm@<pinned>`), built once into
`$LINEUP_CACHE_DIR/helm/` with GOPATH/GOCACHE under the cache; later runs reuse the binary.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELM_MODULE = "helm.sh/helm/v3"
#: pinned Helm release (a version the Go module proxy serves)
HELM_VERSION = "v3.22.0"
#: the Kubernetes version the chart is rendered for (`.Capabilities`) and whose schemas validate it
KUBE_VERSION = "1.34.0"
#: release name and namespace of the renders (they appear in object names, so goldens depend on them)
RELEASE = "lineup"
NAMESPACE = "lineup"
BUILD_TIMEOUT_S = 900.0
FALLBACK_GO = Path("/usr/local/go/bin/go")

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "lineup"
CI_DIR = CHART_DIR / "ci"
GOLDEN_DIR = REPO_ROOT / "deploy" / "helm" / "golden"


class CheckError(RuntimeError):
    """The chart or the tooling is not right; the message says which file and why."""


def cache_dir() -> Path:
    return Path(os.environ.get("LINEUP_CACHE_DIR", Path.home() / ".cache" / "lineup")).expanduser()


def helm_binary(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "helm" / f"helm-{HELM_VERSION}"


def _find_go() -> str:
    go = shutil.which("go") or (str(FALLBACK_GO) if FALLBACK_GO.is_file() else None)
    if go is None:
        raise CheckError(f"`go` is not installed or not on PATH: Helm {HELM_VERSION} is built with `go install` "
                         "(install Go >= 1.24, https://go.dev/dl/)")
    return go


def ensure_helm(cache: Path | None = None) -> Path:
    """The pinned Helm binary, built on first use; a half-built binary is never taken for a cached one."""
    binary = helm_binary(cache)
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = _find_go()
    root = binary.parent.parent
    binary.parent.mkdir(parents=True, exist_ok=True)
    log = binary.parent / "build.log"
    gobin = Path(tempfile.mkdtemp(prefix=".gobin-", dir=binary.parent))
    env = {**os.environ, "GOPATH": str(root / "go"), "GOMODCACHE": str(root / "go" / "pkg" / "mod"),
           "GOCACHE": str(root / "go" / "build-cache"), "GOBIN": str(gobin), "CGO_ENABLED": "0",
           "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false -modcacherw"}
    ldflags = f"-s -w -X {HELM_MODULE}/internal/version.version={HELM_VERSION}"
    print(f"==> helm-check: building Helm {HELM_VERSION} with go install (once; log {log})", flush=True)
    try:
        with open(log, "ab") as out:
            proc = subprocess.run([go, "install", "-trimpath", "-ldflags", ldflags,
                                   f"{HELM_MODULE}/cmd/helm@{HELM_VERSION}"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False)
        if proc.returncode != 0 or not (gobin / "helm").is_file():
            raise CheckError(f"go install {HELM_MODULE}/cmd/helm@{HELM_VERSION} failed "
                             f"(exit {proc.returncode}); see {log}")
        (gobin / "helm").replace(binary)
    except subprocess.TimeoutExpired as exc:
        raise CheckError(f"building Helm timed out after {BUILD_TIMEOUT_S:.0f}s; see {log}") from exc
    finally:
        shutil.rmtree(gobin, ignore_errors=True)
    return binary


def _run_helm(helm: Path, args: Sequence[str], what: str) -> str:
    proc = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise CheckError(f"{what} failed:\n{(proc.stdout + proc.stderr).strip()}")
    return proc.stdout


def lint(helm: Path, values: Path) -> None:
    _run_helm(helm, ["lint", "--strict", "--kube-version", KUBE_VERSION, "--namespace", NAMESPACE,
                     "-f", str(values), str(CHART_DIR)], f"helm lint --strict -f {values.name}")


def render(helm: Path, values: Path | None = None, extra: Sequence[str] = ()) -> str:
    """`helm template` as an install of release `lineup` in namespace `lineup` on the pinned version."""
    args = ["template", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    if values is not None:
        args += ["-f", str(values)]
    return _run_helm(helm, [*args, *extra], f"helm template -f {values.name if values else '(defaults)'}")


def load_objects(rendered: str) -> list[dict[str, Any]]:
    import yaml  # dev dependency (comes with kubernetes-validate)

    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def describe(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def validate(objects: Iterable[dict[str, Any]], source: str) -> list[str]:
    """Strict schema validation of every object; a kind without a schema is an error too (a typo in
    apiVersion must not slip through as 'unknown')."""
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError

    errors: list[str] = []
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (str(obj.get("kind")), str(obj.get("metadata", {}).get("name")))
        if key in seen:
            errors.append(f"{source}: {describe(obj)} is rendered twice")
        seen.add(key)
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(top level)"
            errors.append(f"{source}: {describe(obj)}: {path}: {exc.message}")
        except SchemaNotFoundError as exc:
            errors.append(f"{source}: {describe(obj)}: {exc.message}")
    return errors


#: a value the chart generates at render time (e.g. the internal token Secret): marked `# generated` in the
#: template, different on every offline render, so goldens hold a placeholder instead
_GENERATED = re.compile(r"^(\s*[\w.-]+: )\S+( # generated)$", re.MULTILINE)


def stable(rendered: str) -> str:
    """The render with generated values replaced by `<generated>`: what goldens hold and are compared with."""
    return _GENERATED.sub(r"\1<generated>\2", rendered)


def golden_path(values: Path) -> Path:
    return GOLDEN_DIR / values.name


def golden_diff(rendered: str, golden: Path, max_lines: int = 80) -> str | None:
    """None when the committed golden equals the render, else the start of a unified diff."""
    if not golden.is_file():
        return f"{golden.relative_to(REPO_ROOT)} does not exist (run `make helm-golden` and commit it)"
    expected = golden.read_text()
    if expected == rendered:
        return None
    diff = list(difflib.unified_diff(expected.splitlines(), rendered.splitlines(),
                                     str(golden.relative_to(REPO_ROOT)), "rendered now", lineterm=""))
    more = f"\n... {len(diff) - max_lines} more diff lines" if len(diff) > max_lines else ""
    return "\n".join(diff[:max_lines]) + more


def scenario_files() -> list[Path]:
    files = sorted(CI_DIR.glob("*.yaml"))
    if not files:
        raise CheckError(f"no scenario files in {CI_DIR.relative_to(REPO_ROOT)}")
    return files


@dataclass
class Outcome:
    scenario: str
    objects: int
    problems: list[str]


def check_scenario(helm: Path, values: Path, update_golden: bool) -> Outcome:
    name = values.relative_to(REPO_ROOT).as_posix()
    try:
        lint(helm, values)
        rendered = render(helm, values)
    except CheckError as exc:
        return Outcome(name, 0, [f"{name}: {exc}"])
    objects = load_objects(rendered)
    problems = validate(objects, name)
    golden = golden_path(values)
    if update_golden:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(stable(rendered))
    elif (diff := golden_diff(stable(rendered), golden)) is not None:
        problems.append(f"{name}: the render differs from the golden file (a chart change? review it, then "
                        f"`make helm-golden`):\n{diff}")
    return Outcome(name, len(objects), problems)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineup_tools.devstack.helm", description=__doc__.splitlines()[0])
    parser.add_argument("--update-golden", action="store_true", help="rewrite deploy/helm/golden/ from the renders")
    parser.add_argument("--build-only", action="store_true", help="only make sure the pinned Helm is built")
    args = parser.parse_args(argv)
    try:
        helm = ensure_helm()
        if args.build_only:
            print(helm)
            return 0
        outcomes = [check_scenario(helm, values, args.update_golden) for values in scenario_files()]
    except CheckError as exc:
        print(f"helm-check: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for o in outcomes:
        status = "ok" if not o.problems else "FAILED"
        print(f"==> helm-check: {o.scenario}: lint, render ({o.objects} objects), schema {KUBE_VERSION} strict, "
              f"golden{' (rewritten)' if args.update_golden else ''}: {status}")
        for p in o.problems:
            print(f"    {p}", file=sys.stderr)
        failed += bool(o.problems)
    if failed:
        print(f"helm-check: {failed} of {len(outcomes)} scenario(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

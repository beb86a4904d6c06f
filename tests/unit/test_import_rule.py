"""The import rule (docs/architecture.md): tools -> services -> shared runtime, never the other way.

Read from the source (every import statement, also those inside functions), so a lazy import cannot
hide a dependency. Tools live in tools/lineup_tools (outside the service image); nothing under services/
may import them, or the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
SERVICE_PACKAGES = ("ingest", "detection", "embedding", "search", "audit", "rekognition")
#: modules under services/ that are tools, not runtime (they may import anything): `lineup.reembed` is an
#: operator tool that runs inside a deployment (so it ships), and cuts crops with the services' own code
TOOLING = ("lineup_tools", "lineup.reembed")


def _is(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _is_tooling(module: str) -> bool:
    return _is(module, TOOLING)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVICES).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _sources() -> list[tuple[str, set[str]]]:
    return [(_module_name(p), _imports(p)) for p in sorted(SERVICES.rglob("*.py"))
            if "v1" not in p.relative_to(SERVICES).parts and "egg-info" not in str(p)]


def _violations() -> list[str]:
    out = []
    for module, imports in _sources():
        if _is_tooling(module):
            continue
        own = module.split(".")[0]
        for imp in sorted(imports):
            top = imp.split(".")[0]
            if top == "tests":
                out.append(f"{module} imports the tests ({imp})")
            elif _is_tooling(imp):
                out.append(f"{module} imports tooling ({imp})")
            elif own == "lineup" and top in SERVICE_PACKAGES:
                out.append(f"the shared runtime module {module} imports the service {imp}")
            elif own in SERVICE_PACKAGES and top in SERVICE_PACKAGES and top != own:
                out.append(f"the service module {module} imports another service ({imp})")
    return out


def test_runtime_and_services_import_only_downwards() -> None:
    assert _violations() == []


@pytest.mark.parametrize(("module", "imported", "expected"), [
    ("lineup.provision", "lineup_tools.devstack.kafka", "imports tooling"),
    ("lineup.scoring", "search.store", "imports the service"),
    ("ingest.gateway", "search.ranking", "imports another service"),
    ("detection.stage", "tests.fakes", "imports the tests"),
])
def test_the_rule_catches_each_kind_of_violation(monkeypatch: pytest.MonkeyPatch, module: str, imported: str,
                                                 expected: str) -> None:
    monkeypatch.setattr(f"{__name__}._sources", lambda: [(module, {imported})])
    (message,) = _violations()
    assert expected in message

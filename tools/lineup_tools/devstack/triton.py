"""The local NVIDIA Triton Inference Server: the `tritonserver` binary from the `nvidia-pytriton` wheel, on CPU.

Why this binary: it is the only Triton build installable without Docker (a PyPI wheel), and it runs on a
machine without a GPU. It ships only the Python backend, so the local model repository serves the
production ONNX files through a generic Python-backend runner (see `lineup_tools.devstack.triton_repository`).

Triton gets its own virtualenv (`<cache>/triton-venv-<hash>`, from `infra/triton/requirements.txt`): the
wheel and the Python-backend models need numpy<2, the services numpy 2. Two details make the Python
backend stub (an embedded interpreter) use that virtualenv correctly, both verified:

* the stub runs an *isolated* interpreter (PYTHONPATH is ignored) that finds its `sys.prefix` by looking
  up `python3` on PATH: the virtualenv's `bin` goes first on PATH, so `pyvenv.cfg` puts its
  site-packages on `sys.path` (this is what pytriton itself does);
* the stub links `libpython3.11.so.1.0` with no RPATH to it, so without help the loader picks Debian's
  system libpython (3.11.2) while the stdlib comes from the virtualenv's base Python (e.g. pyenv 3.11.7):
  LD_LIBRARY_PATH starts with that interpreter's own LIBDIR so runtime and stdlib match.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from lineup_tools.devstack.base import Component, StackError, run_checked
from lineup_tools.devstack.triton_repository import (
    ModelSource,
    discover_models,
    mark_built,
    render_repository,
)

HOST = "127.0.0.1"
GRPC_PORT, HTTP_PORT, METRICS_PORT = 8001, 8000, 8002
#: interpreter the Triton virtualenv is created from (default: the one running the devstack)
PYTHON_ENV = "LINEUP_TRITON_PYTHON"
#: onnxruntime intra-op threads per local model instance (overrides the configs' intra_op_thread_count)
THREADS_ENV = "LINEUP_TRITON_INTRA_OP_THREADS"
MARKER = ".lineup-installed.json"
#: pytriton 0.7.0 ships stubs for these Python versions
STUB_VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")

_PROBE = (
    "import json, sys, sysconfig; v = sysconfig.get_config_var; "
    "print(json.dumps({'version': f'{sys.version_info[0]}.{sys.version_info[1]}', "
    "'libdir': v('LIBDIR'), 'soname': v('INSTSONAME'), 'shared': v('Py_ENABLE_SHARED'), "
    "'purelib': sysconfig.get_path('purelib')}))"
)


class Triton(Component):
    name = "triton"
    ports = (GRPC_PORT, HTTP_PORT, METRICS_PORT)
    start_timeout_s = 180.0

    # --- paths ----------------------------------------------------------------------------------------
    @property
    def infra_dir(self) -> Path:
        return self.paths.repo_root / "infra" / "triton"

    @property
    def requirements(self) -> Path:
        return self.infra_dir / "requirements.txt"

    @property
    def base_python(self) -> str:
        return os.environ.get(PYTHON_ENV) or sys.executable

    @property
    def venv_dir(self) -> Path:
        """Keyed by the requirements and the base interpreter, so changing either gets a fresh venv."""
        try:
            reqs = self.requirements.read_bytes()
        except OSError as exc:
            raise StackError(f"{self.requirements} is missing; is this a complete checkout?") from exc
        key = hashlib.sha256(reqs + b"\0" + os.path.realpath(self.base_python).encode()).hexdigest()[:12]
        return self.paths.cache_dir / f"triton-venv-{key}"

    @property
    def install_log(self) -> Path:
        return self.paths.log_dir / "triton-install.log"

    @property
    def repository_dir(self) -> Path:
        return self.data_dir / "repository"

    def _installed(self) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = json.loads((self.venv_dir / MARKER).read_text())
        except (OSError, ValueError):
            return None
        if not Path(info.get("tritonserver", "")).is_file():
            return None
        return info

    def _info(self) -> dict[str, Any]:
        info = self._installed()
        if info is None:
            raise StackError("Triton is not installed; run `python -m lineup_tools.devstack install triton`")
        return info

    # --- Component ------------------------------------------------------------------------------------
    def install(self) -> None:
        """Create the Triton virtualenv and place the Python-backend stub; a marker makes reruns instant."""
        if self._installed() is not None:
            return
        venv = self.venv_dir
        base = self.base_python
        # check the base interpreter first: these problems would otherwise show only after the pip install
        probe = _probe(base)
        if probe["version"] not in STUB_VERSIONS:
            raise StackError(f"nvidia-pytriton has no Python backend stub for Python {probe['version']} "
                             f"({base}); set {PYTHON_ENV} to a Python {STUB_VERSIONS[0]}-{STUB_VERSIONS[-1]}")
        if not probe["shared"] or not (Path(probe["libdir"]) / str(probe["soname"])).is_file():
            raise StackError(f"{base} has no shared libpython, which Triton's Python backend stub needs: use "
                             f"a Python built with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared)"
                             f" or point {PYTHON_ENV} at one")
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one from an interrupted install
        log = self.install_log
        log.write_text(f"# installing the Triton virtualenv {venv}\n")
        run_checked([base, "-m", "venv", str(venv)], f"creating the Triton virtualenv with {base}", log=log,
                    timeout=300)
        python = venv / "bin" / "python"
        run_checked([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                     "-r", str(self.requirements)],
                    f"pip install -r {self.requirements} (Triton virtualenv)", log=log, timeout=1800)
        probe = _probe(str(python))  # the venv's purelib; LIBDIR is its base interpreter's
        dist = Path(probe["purelib"]) / "pytriton" / "tritonserver"
        server = dist / "bin" / "tritonserver"
        stub = dist / "python_backend_stubs" / probe["version"] / "triton_python_backend_stub"
        if not server.is_file() or not stub.is_file():
            raise StackError(f"the nvidia-pytriton wheel lacks {server} or {stub}; check the version pinned "
                             f"in {self.requirements}")
        # the Python backend runs <backend dir>/python/triton_python_backend_stub; placed there, inside the
        # wheel's own tree, its RPATH ($ORIGIN/../../../../nvidia_pytriton.libs) resolves as shipped
        shutil.copy2(stub, dist / "backends" / "python" / "triton_python_backend_stub")
        info = {"tritonserver": str(server), "backends": str(dist / "backends"), "libdir": probe["libdir"],
                "python": str(python), "python_version": probe["version"]}
        (venv / MARKER).write_text(json.dumps(info, indent=2) + "\n")

    def prepare(self) -> None:
        """Render the local repository from infra/triton/models (rerun on every start: cheap, never stale)."""
        info = self._info()
        threads = os.environ.get(THREADS_ENV)
        try:
            intra = int(threads) if threads else None
        except ValueError as exc:
            raise StackError(f"{THREADS_ENV}={threads!r} is not an integer") from exc
        models = discover_models(self.infra_dir / "models", self.paths.cache_dir / "models")
        render_repository(models, self.repository_dir, self.infra_dir / "python_runner" / "model.py",
                          intra_op_threads=intra, build=lambda m: self._build(m, info))

    def _build(self, model: ModelSource, info: dict[str, Any]) -> None:
        """Run a model's build.py with the Triton virtualenv's Python (it has onnx) into the cache."""
        out = model.cache_dir / "1" / "model.onnx"
        tmp = out.with_name("model.onnx.tmp")
        out.parent.mkdir(parents=True, exist_ok=True)
        log = self.paths.log_dir / f"triton-build-{model.name}.log"
        env = dict(os.environ, LINEUP_CACHE_DIR=str(self.paths.cache_dir))
        run_checked([info["python"], str(model.build_script), str(tmp)], f"building model {model.name!r}",
                    cwd=model.repo_dir, env=env, log=log, timeout=1800)
        if not tmp.is_file():
            raise StackError(f"{model.build_script} exited 0 but wrote no {tmp} (log: {log})")
        tmp.replace(out)
        mark_built(model)

    def command(self) -> list[str]:
        info = self._info()
        return [
            info["tritonserver"],
            "--model-repository", str(self.repository_dir),
            "--backend-directory", info["backends"],
            # explicit + load everything at start: the repository API can still load/unload models later
            "--model-control-mode", "explicit", "--load-model", "*",
            # configs are rendered complete; skipping auto-complete saves a stub launch per model
            "--disable-auto-complete-config",
            "--strict-readiness", "true", "--exit-on-error", "true", "--exit-timeout-secs", "10",
            "--http-address", HOST, "--http-port", str(HTTP_PORT),
            "--grpc-address", HOST, "--grpc-port", str(GRPC_PORT),
            "--metrics-address", HOST, "--metrics-port", str(METRICS_PORT),
            # no GPU: no pinned host memory (CUDA would be needed) and no GPU metrics (no NVML)
            "--pinned-memory-pool-byte-size", "0", "--allow-gpu-metrics", "false",
        ]

    def environment(self) -> dict[str, str]:
        info = self._info()
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(info["python"]).parent), env.get("PATH", "")])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in [info["libdir"], env.get("LD_LIBRARY_PATH")] if p)
        return env

    def _get(self, path: str, timeout: float = 1.0) -> tuple[int, bytes]:
        with urllib.request.urlopen(f"http://{HOST}:{HTTP_PORT}{path}", timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())

    def healthy(self) -> bool:
        """Server ready (strict: every loaded model is ready) on the HTTP endpoint; never raises."""
        try:
            return self._get("/v2/health/ready")[0] == 200
        except Exception:  # refused, reset, timeout, HTTP error, garbage: all mean "not ready"
            return False

    def version(self) -> str:
        try:
            return str(json.loads(self._get("/v2")[1]).get("version", "?"))
        except Exception:  # a status line must never fail because the server is odd
            return "?"


def _probe(python: str) -> dict[str, Any]:
    """Version, libpython location and site-packages of an interpreter, asked from that interpreter."""
    try:
        out = subprocess.run([python, "-c", _PROBE], check=True, capture_output=True, text=True, timeout=60)
        info: dict[str, Any] = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise StackError(f"cannot run {python} to inspect it ({exc}); set {PYTHON_ENV} to a working Python") from exc
    return info

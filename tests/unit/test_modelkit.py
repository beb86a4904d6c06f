"""Model build (weights, checksums, cache), evaluation metrics and calibration.

The build tests reuse the real download cache (the registry archives are pinned by SHA-256) in a
temporary cache directory, so they check the real conversion without touching the real model files.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from lineup_tools.modelkit import evaluate
from lineup_tools.modelkit.sources import FetchError, extract, sha256_file

from lineup.modelkit import calibration
from tests.face_data import LFW_DEV, models_root, require

# --- weights and build ------------------------------------------------------------------------------


def test_tfjs_dequantisation(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from lineup_tools.modelkit.dlib_resnet import load_tfjs_weights

    q = np.array([0, 128, 255, 7], np.uint8)
    f = np.array([1.5, -2.0], "<f4")
    (tmp_path / "w.bin").write_bytes(q.tobytes() + f.tobytes())
    (tmp_path / "m.json").write_text(json.dumps([{"paths": ["w.bin"], "weights": [
        {"name": "a", "shape": [2, 2], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
        {"name": "b", "shape": [2], "dtype": "float32"}]}]))
    w = load_tfjs_weights(tmp_path / "m.json")
    assert np.allclose(w["a"], [[-1.0, 63.0], [126.5, 2.5]])  # q * scale + min
    assert np.allclose(w["b"], [1.5, -2.0])


@pytest.fixture(scope="module")
def scratch_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cache whose downloads/ holds the already verified registry archives."""
    real_models = models_root()
    cache = tmp_path_factory.mktemp("cache")
    (cache / "downloads").mkdir()
    for archive in (real_models.parent / "downloads").glob("*.*"):
        if archive.is_file():
            shutil.copyfile(archive, cache / "downloads" / archive.name)
    return cache


def test_build_converts_then_is_cached(scratch_cache: Path) -> None:
    from lineup_tools.modelkit.build import MODELS, build_one, model_path, repo_model_dir

    for spec in MODELS:
        digest, built = build_one(spec, scratch_cache)
        assert built
        out = model_path(spec.name, scratch_cache)
        assert sha256_file(out) == digest
        # deterministic conversion: the committed model card records the same checksum
        card = json.loads((repo_model_dir(spec.name) / "model_card.json").read_text())
        assert card["artifact"]["onnx_sha256"] == digest
        t0 = time.monotonic()
        again, built_again = build_one(spec, scratch_cache)
        assert (again, built_again) == (digest, False)
        assert time.monotonic() - t0 < 2.0


def test_converted_graphs_have_a_dynamic_batch(scratch_cache: Path) -> None:
    import onnx
    from lineup_tools.modelkit.build import model_path

    for name, inputs in (("face_detector", ["image"]), ("face_embedder", ["image"])):
        model = onnx.load(str(model_path(name, scratch_cache)))
        assert [i.name for i in model.graph.input] == inputs
        for value in list(model.graph.input) + list(model.graph.output):
            dim0 = value.type.tensor_type.shape.dim[0]
            assert dim0.dim_param == "N" and not dim0.HasField("dim_value")


def test_tampered_weights_are_refused(scratch_cache: Path, tmp_path: Path) -> None:
    from lineup_tools.modelkit.sources import FACE_API

    archive = scratch_cache / "downloads" / FACE_API.archive
    files = extract(FACE_API, archive, tmp_path)
    target = next(iter(files.values()))
    target.write_bytes(b"tampered")
    # a damaged extracted file is replaced from the verified archive
    assert sha256_file(extract(FACE_API, archive, tmp_path)[FACE_API.members[0].path]) == FACE_API.members[0].sha256
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(archive.read_bytes()[:1000])
    with pytest.raises(Exception):  # noqa: B017 - truncated archive: tarfile error or checksum error
        extract(FACE_API, bad, tmp_path / "x")


def test_fetch_rejects_a_checksum_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lineup_tools.modelkit import sources

    def fake_download(source: sources.Source, dest: Path) -> None:
        (dest / source.archive).write_bytes(b"not the pinned archive")

    monkeypatch.setattr(sources, "_download", fake_download)
    with pytest.raises(FetchError, match="does not match the pinned"):
        sources.fetch(sources.BLAZEFACE, tmp_path)
    assert not (tmp_path / sources.BLAZEFACE.archive).exists()


# --- metrics -----------------------------------------------------------------------------------------


def test_threshold_is_picked_on_the_other_folds() -> None:
    # fold 0 separates at 0.5, fold 1 at 0.7; each fold is scored with the other fold's threshold,
    # which here misclassifies half of it
    scores = np.array([0.4, 0.6, 0.45, 0.55, 0.6, 0.8, 0.65, 0.75])
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1], bool)
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    accs, thresholds = evaluate.kfold_accuracy(scores, labels, folds)
    assert thresholds[0] == pytest.approx(0.7)  # learnt on fold 1
    assert thresholds[1] == pytest.approx(0.5)  # learnt on fold 0
    assert accs == [0.5, 0.5]


def test_auc_tar_and_rank1() -> None:
    assert evaluate.roc_auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert evaluate.roc_auc(np.array([0.5]), np.array([0.5])) == 0.5
    impostor = np.linspace(0, 1, 10_000)
    genuine = np.array([0.9995, 0.99995, 0.5])
    tar, thr = evaluate.tar_at_far(genuine, impostor, 1e-3)
    assert thr == pytest.approx(impostor[-11], abs=1e-9)  # 10 impostors above
    assert tar == pytest.approx(2 / 3)
    emb = np.eye(4, dtype=np.float32)[[0, 0, 1, 1, 2]]
    ids = np.array([0, 0, 1, 1, 2])
    rate, probes, gallery = evaluate.rank1_rate(emb, ids)
    assert (rate, probes, gallery) == (1.0, 2, 3)
    gen, imp = evaluate.all_pairs(emb, ids)
    assert len(gen) == 2 and len(imp) == 8


def test_eval_on_one_fold_of_lfw_dev() -> None:
    """The whole chain on fold 1 of lfw-dev (600 pairs); `make eval` runs all five folds."""
    from lineup.modelkit.backends import OnnxRuntimeBackend

    data = require(LFW_DEV)
    result = evaluate.evaluate(data, OnnxRuntimeBackend(models_root()), folds=[1])
    lines = evaluate.report(result, "onnxruntime", "joint")
    print("\n" + "\n".join(lines))
    assert lines[-1].startswith("eval: accuracy=0.")
    assert result.stats.fallback <= 2
    assert result.accuracy >= 0.98
    assert result.rank1 >= 0.9


# --- calibration ---------------------------------------------------------------------------------------


def test_calibration_table_from_known_distributions() -> None:
    rng = np.random.default_rng(1)
    impostor = rng.normal(0.0, 1.0, 2_000_000)
    genuine = rng.normal(4.0, 1.0, 20_000)
    cal = calibration.build_table(genuine, impostor)
    assert cal.rows[0].fmr == 1.0
    assert cal.rows[-1].fmr == pytest.approx(1e-6, rel=0.6)
    # the normal tail: P(Z >= 3.09) = 1e-3, P(Z >= 3.72) = 1e-4
    assert cal.score_at_fmr(1e-3) == pytest.approx(3.09, abs=0.05)
    assert cal.score_at_fmr(1e-4) == pytest.approx(3.72, abs=0.1)
    assert cal.fmr_at(3.09) == pytest.approx(1e-3, rel=0.15)
    assert cal.fnmr_at(4.0) == pytest.approx(0.5, abs=0.02)
    scores = np.linspace(-1, 6, 50)
    fmrs = [cal.fmr_at(s) for s in scores]
    assert all(a >= b for a, b in itertools.pairwise(fmrs))  # monotone
    assert cal.fmr_at(100.0) == cal.rows[-1].fmr  # never claims more than the data can show


def test_committed_model_card_calibration() -> None:
    cal = calibration.load()
    assert cal.impostor_pairs > 1_000_000 and cal.genuine_pairs > 1_000
    threshold = calibration.score_at_fmr(1e-4)
    assert calibration.fmr_at(threshold) == pytest.approx(1e-4, rel=0.01)
    assert calibration.score_at_fmr(1e-3) < threshold < calibration.score_at_fmr(1e-5)
    card = json.loads(calibration.default_card_path().read_text())
    assert card["calibration"]["default_threshold"] == pytest.approx(threshold, abs=1e-6)
    assert "demographic" in card["calibration"]["caveat"]

"""Deterministic helpers of the benchmark and the load test (no servers, no timing assertions)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lineup.settings import SettingsError, load_settings
from tests.bench import results
from tests.bench.crowd import build_crowd, grid_shape, tile_of
from tests.bench.dataset import build_plan
from tests.bench.distractors import DistractorSampler, fit
from tests.bench.stats import percentile, ratio, summarize_ms
from tests.load.run_load import LoadSettings, locust_command
from tests.load.summary import read_stats, render

# ------------------------------------------------------------------------------------------ percentiles


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of the input does not matter
    assert percentile(values, 99) == pytest.approx(float(np.percentile(values, 99)))


def test_percentile_of_nothing_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_converts_seconds_to_ms_and_serialises_nothing_as_null() -> None:
    s = summarize_ms([0.1, 0.2, 0.3, 0.4])
    assert (s.n, s.p50_ms, s.max_ms, s.mean_ms) == (4, pytest.approx(250.0), pytest.approx(400.0), pytest.approx(250.0))
    empty = summarize_ms([]).as_dict()
    assert empty["n"] == 0 and empty["p99_ms"] is None
    json.dumps(empty, allow_nan=False)  # what results.write does


def test_ratio_refuses_division_by_zero_and_nan() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(math.nan, 1.0) is None

# ------------------------------------------------------------------------------------------ distractors


def test_distractors_match_the_fitted_mean_and_covariance() -> None:
    rng = np.random.default_rng(1)
    dim = 6
    a = rng.standard_normal((dim, dim))
    true_cov = a @ a.T / dim + 0.1 * np.eye(dim)
    true_mean = rng.standard_normal(dim)
    data = rng.multivariate_normal(true_mean, true_cov, size=20000)
    model = fit(data, shrinkage=0.0)
    draws = DistractorSampler(model, normalize=False, seed=3).sample(50000).astype(np.float64)
    assert np.allclose(draws.mean(axis=0), data.mean(axis=0), atol=0.03)
    assert np.allclose(np.cov(draws, rowvar=False), np.cov(data, rowvar=False), atol=0.05)


def test_shrinkage_moves_the_covariance_towards_a_scaled_identity() -> None:
    data = np.random.default_rng(2).standard_normal((50, 4)) * np.array([1.0, 2.0, 3.0, 4.0])
    raw, shrunk = fit(data, shrinkage=0.0).cov, fit(data, shrinkage=1.0).cov
    assert np.allclose(shrunk, np.eye(4) * np.trace(raw) / 4)
    assert np.trace(fit(data, shrinkage=0.3).cov) == pytest.approx(np.trace(raw))  # total variance kept


def test_normalised_distractors_are_unit_vectors_and_reproducible() -> None:
    data = np.random.default_rng(4).standard_normal((300, 16)) + 0.5
    model = fit(data)
    first = DistractorSampler(model, normalize=True, seed=9).sample(100)
    again = DistractorSampler(model, normalize=True, seed=9).sample(100)
    assert first.dtype == np.float32 and first.shape == (100, 16)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, DistractorSampler(model, normalize=True, seed=10).sample(100))


def test_fit_needs_a_matrix_of_several_rows() -> None:
    with pytest.raises(ValueError):
        fit(np.ones((1, 4)))
    with pytest.raises(ValueError):
        fit(np.ones((5, 4)), shrinkage=1.5)

# ------------------------------------------------------------------------------------------ results file


def _complete_document() -> dict:
    doc = results.new_document({"sizes": [10]})
    doc["gallery_method"] = "test"
    side = {"enroll": dict.fromkeys(results.ENROLL_KEYS, 1),
            "search": {"10": {"latency": dict.fromkeys(results.LATENCY_KEYS, 1.0),
                              "accuracy": dict.fromkeys(results.ACCURACY_KEYS, 0)}},
            "crowd": dict.fromkeys(results.CROWD_KEYS, 1), "memory_mib": {"x": 1.0}}
    doc["lineup"] = json.loads(json.dumps(side))
    doc["face_recognition"] = json.loads(json.dumps(side))
    return doc


def test_results_file_is_written_only_when_complete(tmp_path: Path) -> None:
    doc = _complete_document()
    path = results.write(doc, tmp_path)
    back = json.loads(path.read_text())
    assert back["schema_version"] == results.SCHEMA_VERSION
    assert results.validate(back) == []
    assert len(back["machine"]["loadavg_end"]) == 3 and back["machine"]["cpu_count"] >= 1

    broken = _complete_document()
    del broken["face_recognition"]["search"]["10"]["latency"]["p99_ms"]
    broken["lineup"]["crowd"] = None
    with pytest.raises(ValueError) as err:
        results.write(broken, tmp_path / "other")
    assert "face_recognition.search.10.latency.p99_ms is missing" in str(err.value)
    assert "lineup.crowd is missing" in str(err.value)
    assert not (tmp_path / "other").exists()


def test_validate_names_every_missing_part() -> None:
    doc = _complete_document()
    doc["lineup"]["search"] = {}
    doc["schema_version"] = 0
    problems = results.validate(doc)
    assert any("schema_version" in p for p in problems)
    assert "lineup.search has no gallery size" in problems
    assert "finished_at is missing" in problems

def test_the_report_shows_lineup_only_sizes_the_floor_and_the_index_recall() -> None:
    from tests.bench.report import markdown
    from tests.bench.run_bench import ratios, side_by_side

    doc = _complete_document()
    doc["finished_at"] = doc["started_at"]
    doc["machine"]["loadavg_end"] = [0.5, 0.5, 0.5]
    doc["machine"]["processor"], doc["machine"]["platform"] = "cpu", "linux"
    ln = doc["lineup"]
    ln["search"]["10"]["gallery"] = doc["face_recognition"]["search"]["10"]["gallery"] = 10
    ln["search"]["10"]["latency"]["p50_ms"] = 30.0
    ln["search"]["10"]["index"] = {"k": 10, "probes": 4, "recall_at_k": 0.975, "ivf": {"nlist": 128, "nprobe": 16},
                                   "store_search_p50_ms": {"FLAT": 2.0, "IVF_FLAT": 1.0}}
    ln["search"]["1000000"] = {"gallery": 1000000, "latency": dict.fromkeys(results.LATENCY_KEYS, 9.0),
                               "accuracy": dict.fromkeys(results.ACCURACY_KEYS, 0)}
    ln["floor"] = {"latency": {"p50_ms": 20.0, "p95_ms": 21.0, "p99_ms": 22.0}, "face_model": "m", "threads": 2}
    text = markdown(doc)
    assert "| 1,000,000 | 1,000,000 / - |" in text and "(not run)" in text
    assert "| p50 Lineup / floor | 1.50 |" in text
    assert "| 10 | 10 | 0.9750 (n=4) | 2.0 / 1.0 | nlist 128, nprobe 16 |" in text
    r = ratios(doc)
    assert r["search_real_faces_p50 lineup/in-process floor"] == 1.5 and "search_1000000_p50 lineup/fr" not in r
    assert "search 1000000 p50_ms" in side_by_side(doc)

# ------------------------------------------------------------------------------------------ crowd, plan


def test_grid_shape_is_the_most_square_grid() -> None:
    assert grid_shape(100) == (10, 10)
    assert grid_shape(16) == (4, 4)
    assert grid_shape(17) == (5, 4)
    assert grid_shape(1) == (1, 1)
    with pytest.raises(ValueError):
        grid_shape(0)


def test_crowd_tiles_map_pixels_back_to_identities(tmp_path: Path) -> None:
    photos = []
    for i in range(5):
        p = tmp_path / f"p{i}.png"
        Image.new("RGB", (250, 250), (40 * i, 0, 0)).save(p)
        photos.append((p, f"person{i}"))
    crowd = build_crowd(photos, crop=100)
    assert (crowd.width, crowd.height) == (300, 200)  # 3 columns x 2 rows
    assert tile_of(crowd, 10, 10) == "person0"
    assert tile_of(crowd, 150, 50) == "person1"
    assert tile_of(crowd, 50, 150) == "person3"
    assert tile_of(crowd, 250, 150) is None  # the empty sixth cell
    with Image.open(__import__("io").BytesIO(crowd.jpeg)) as im:
        assert im.size == (300, 200)


def test_plan_holds_out_probes_and_keeps_strangers_apart(tmp_path: Path) -> None:
    for name, n in (("Ann", 3), ("Bob", 1), ("Cid", 2), ("Dee", 1), ("Eve", 2)):
        (tmp_path / name).mkdir()
        for k in range(1, n + 1):
            (tmp_path / name / f"{name}_{k:04d}.jpg").write_bytes(b"x")
    plan = build_plan(tmp_path, enroll=3, known=2, unknown=2)
    assert [p.label for p in plan.enroll] == ["Ann/Ann_0001.jpg", "Cid/Cid_0001.jpg", "Eve/Eve_0001.jpg"]
    assert [p.label for p in plan.known_probes] == ["Ann/Ann_0002.jpg", "Cid/Cid_0002.jpg"]
    assert [p.identity for p in plan.unknown_probes] == ["Bob", "Dee"]
    assert not {p.path for p in plan.enroll} & {p.path for p in plan.probes}
    with pytest.raises(ValueError):
        build_plan(tmp_path, enroll=4, known=1, unknown=0)

# ------------------------------------------------------------------------------------------ load test


LOCUST_CSV = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
SearchFacesByImage,/lineup.v1.FaceSearch/SearchFacesByImage,120,2,310,330.5,150,900,800,2.0,0.03,310,340,360,380,\
450,520,700,850,900,900,900
IndexFaces,/lineup.v1.FaceSearch/IndexFaces,40,0,280,290.0,200,500,300,0.67,0.0,280,290,300,310,350,400,450,480,500,\
500,500
CompareFaces,/lineup.v1.FaceSearch/CompareFaces,0,0,0,0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,160,2,300,320.0,150,900,675,2.67,0.03,300,330,350,370,430,500,650,800,900,900,900
"""


def test_per_rpc_summary_reads_locust_stats_csv(tmp_path: Path) -> None:
    path = tmp_path / "load_stats.csv"
    path.write_text(LOCUST_CSV)
    rows = read_stats(path)
    assert [r.rpc for r in rows] == ["CompareFaces", "IndexFaces", "SearchFacesByImage", "Aggregated"]
    search = rows[2]
    assert (search.requests, search.failures, search.rps) == (120, 2, 2.0)
    assert (search.p50_ms, search.p95_ms, search.p99_ms) == (310.0, 520.0, 850.0)
    assert rows[0].p99_ms is None and rows[0].failure_ratio == 0.0
    table = render(rows)
    assert "SearchFacesByImage" in table and "2 (1.7%)" in table and "850" in table


def test_load_run_is_bounded_and_writes_csv_and_html(tmp_path: Path) -> None:
    settings = load_settings(LoadSettings, env={"LINEUP_LOAD_USERS": "3", "LINEUP_LOAD_RUN_TIME": "2m"})  # type: ignore[type-var]
    cmd = locust_command(settings, tmp_path)
    assert cmd[cmd.index("-u") + 1] == "3" and cmd[cmd.index("--run-time") + 1] == "2m"
    assert "--headless" in cmd and cmd[cmd.index("--csv") + 1] == str(tmp_path / "load")
    assert cmd[cmd.index("--html") + 1] == str(tmp_path / "report.html")
    for bad in ({"LINEUP_LOAD_RUN_TIME": ""}, {"LINEUP_LOAD_RUN_TIME": "forever"}, {"LINEUP_LOAD_USERS": "0"}):
        with pytest.raises(SettingsError):
            load_settings(LoadSettings, env=bad)  # type: ignore[type-var]


def test_bench_settings_fail_fast_on_unusable_knobs() -> None:
    from tests.bench.run_bench import BenchSettings

    ok = load_settings(BenchSettings, env={"LINEUP_BENCH_SIZES": "0, 10000"})  # type: ignore[type-var]
    assert ok.sizes == [0, 10000] and ok.lineup_sizes == [0, 10000, 1000000]
    none = load_settings(BenchSettings, env={"LINEUP_BENCH_LINEUP_SIZES": ""})  # type: ignore[type-var]
    assert none.lineup_sizes == none.sizes
    for bad in ({"LINEUP_BENCH_SIZES": "100000,10000"}, {"LINEUP_BENCH_SIZES": "ten"},
                {"LINEUP_BENCH_LINEUP_SIZES": "300000"}, {"LINEUP_BENCH_LINEUP_SIZES": "2000000,1000000"},
                {"LINEUP_BENCH_SIZES": "-1,10"}, {"LINEUP_BENCH_SIZES": "10,10"},
                {"LINEUP_BENCH_CROWD": "101"}, {"LINEUP_BENCH_KNOWN": "700"}):
        with pytest.raises(SettingsError):
            load_settings(BenchSettings, env=bad)  # type: ignore[type-var]

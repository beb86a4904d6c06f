"""The endpoint's similarity scale: the same number means the same false-match rate whatever model a
collection is pinned to, and Rekognition's default 80 is Lineup's default operating point."""

from __future__ import annotations

import pytest

from rekognition.operations import _threshold, fmr_of_similarity, similarity_of_fmr


@pytest.mark.parametrize(("similarity", "fmr"), [(70.0, 1e-3), (80.0, 1e-4), (90.0, 1e-5), (100.0, 1e-6)])
def test_each_ten_points_is_ten_times_fewer_false_matches(similarity: float, fmr: float) -> None:
    assert fmr_of_similarity(similarity) == pytest.approx(fmr)
    assert similarity_of_fmr(fmr) == pytest.approx(similarity)


def test_the_scale_is_bounded_and_a_zero_threshold_asks_for_no_threshold() -> None:
    assert similarity_of_fmr(0.0) == 100.0 and similarity_of_fmr(1e-12) == 100.0
    assert similarity_of_fmr(1.0) == 40.0 and similarity_of_fmr(5.0) == pytest.approx(33.0103, abs=1e-3)
    assert fmr_of_similarity(0.0) == 1.0
    assert _threshold(None, 80.0).max_fmr == pytest.approx(1e-4)

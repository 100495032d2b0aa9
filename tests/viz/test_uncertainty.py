"""Accuracies on few test images come with a count and a Wilson interval."""

from __future__ import annotations

import pytest

from tlweb.viz.uncertainty import (
    SMALL_TEST,
    accuracy_text,
    small_sample_note,
    synthetic_backbone_note,
    wilson_interval,
)


@pytest.mark.parametrize("k,n,lo,hi", [
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no continuity correction)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_the_textbook(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(3, 3)
    assert hi == 1.0 and 0.4 < lo < 0.5  # 3 of 3 right still allows ~44 %
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


def test_accuracy_text_shows_count_and_interval_only_for_small_test_sets():
    assert accuracy_text(0.0, 3) == "0 % (0 of 3 test images; 95 % interval 0–56 %)"
    assert accuracy_text(2 / 3, 3).startswith("67 % (2 of 3 test images; 95 % interval 21–94 %)")
    assert accuracy_text(0.92, 100) == "92.0 %"
    assert accuracy_text(0.5, SMALL_TEST) == "50.0 %"
    assert accuracy_text(1.0, 1) == "100 % (1 of 1 test image; 95 % interval 21–100 %)"


def test_notes():
    assert "3 test images" in small_sample_note(3) and "33 points" in small_sample_note(3)
    assert small_sample_note(50) == ""
    note = synthetic_backbone_note("6 synthetic shapes (cross, …) — tlweb demo", data_is_generated=False)
    assert "synthetic shapes" in note and "Hugging Face Hub" in note
    assert synthetic_backbone_note("6 synthetic shapes", data_is_generated=True) == ""
    assert synthetic_backbone_note("ImageNet-1k", data_is_generated=False) == ""

"""The zero-shot baseline on the data-efficiency curve: a dashed line of its own colour across the
whole x range, labelled with the model and its accuracy, hover with the count and the test images."""

from __future__ import annotations

import pytest

from tlweb.viz import training as tv

ROWS = [{"strategy": "linear", "per_class": k, "train_images": 4 * k, "test_accuracy": 0.3 + 0.1 * k,
         "test_macro_f1": 0.3, "test_images": 40, "run_id": f"l{k}"} for k in (1, 2, 5)]
ZS = {"kind": "zero-shot", "model": "demo-clip", "test_accuracy": 0.275, "test_macro_f1": 0.2, "correct": 11,
      "test_images": 40, "train_images": 0, "templates": ["a photo of a {}.", "a drawing of a {}."],
      "scoring": "softmax", "random_weights": True}


def _zero_shot_traces(fig):
    return [t for t in fig.data if (t.meta or {}).get("kind") == "zero-shot"]


def test_the_baseline_is_a_dashed_line_with_its_label_and_hover():
    fig = tv.efficiency_curves(ROWS, chance=0.25, zero_shot=ZS)
    (line,) = _zero_shot_traces(fig)
    assert line.line.dash == "dash" and line.line.color == tv.ZERO_SHOT_COLOR
    assert line.name == "zero-shot demo-clip (random weights): 0 images · 28%"
    assert list(line.y) == pytest.approx([27.5] * len(line.y))
    # it spans the whole x range of the runs (1 … 5 images per class, log axis), not one point
    lo, hi = fig.layout.xaxis.range
    assert min(line.x) == pytest.approx(10 ** lo) and max(line.x) == pytest.approx(10 ** hi) and len(line.x) > 10
    assert "11 of 40 test images right" in line.hovertemplate and "2 prompt templates averaged" in line.hovertemplate
    assert "macro-F1 20.0%" in line.hovertemplate
    # its colour is neither a strategy's nor the chance line's
    chance = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert chance and all(s.line.color != tv.ZERO_SHOT_COLOR for s in chance)
    assert tv.ZERO_SHOT_COLOR not in tv.STRATEGY_COLORS.values()
    # labels: "zero-shot 28%" above the line's left end, "chance 25%" below the right end of its own
    notes = {a.text: a for a in fig.layout.annotations}
    assert notes["zero-shot 28%"].yanchor == "bottom" and notes["zero-shot 28%"].xanchor == "left"
    assert (notes["chance 25%"].xanchor, notes["chance 25%"].yanchor) == ("right", "top")
    assert fig.layout.xaxis.title.text == "training images per class (log scale)"
    assert fig.layout.yaxis.title.text == "test accuracy (%)"


def test_a_zero_shot_row_among_the_rows_draws_the_line_and_is_no_strategy():
    fig = tv.efficiency_curves([ZS, *ROWS], chance=0.25)
    assert len(_zero_shot_traces(fig)) == 1
    named = {t.name for t in fig.data if t.name}
    assert named == {"pretrained · linear probe", "zero-shot demo-clip (random weights): 0 images · 28%"}
    assert list(fig.layout.xaxis.tickvals) == [1, 2, 5]  # no "0 images" point on the log axis


def test_the_line_shows_before_the_first_run_and_a_real_model_is_not_called_random():
    fig = tv.efficiency_curves([{**ZS, "random_weights": False, "model": "clip-vit-base", "test_accuracy": 0.91}])
    (line,) = _zero_shot_traces(fig)
    assert line.name == "zero-shot clip-vit-base: 0 images · 91%"
    assert fig.layout.xaxis.range is not None and list(line.y) == pytest.approx([91.0] * len(line.y))
    assert not _zero_shot_traces(tv.efficiency_curves(ROWS))  # none asked for: no line


def test_the_label_moves_away_from_the_points_it_would_cover():
    near_first = tv.efficiency_curves(ROWS, chance=0.25, zero_shot={**ZS, "test_accuracy": 0.42})  # first point 40%
    assert [(a.text, a.xanchor) for a in near_first.layout.annotations if "zero-shot" in a.text] == \
        [("zero-shot 42%", "right")]
    flat = [{**r, "test_accuracy": 0.5} for r in ROWS]  # points at 50% at both ends of the line
    crowded = tv.efficiency_curves(flat, chance=0.25, zero_shot={**ZS, "test_accuracy": 0.46})
    assert not [a for a in crowded.layout.annotations if "zero-shot" in a.text]
    assert _zero_shot_traces(crowded)[0].name.startswith("zero-shot demo-clip")  # the legend still names it


def test_the_sentence_says_where_each_strategy_first_beats_zero_shot():
    rows = ROWS + [{**r, "strategy": "scratch", "test_accuracy": r["test_accuracy"] - 0.4} for r in ROWS]
    text = tv.zero_shot_sentence(rows, {**ZS, "test_accuracy": 0.45})
    assert text == ("zero-shot demo-clip (random weights): 45.0% (11 of 40 test images); linear probe first beats it "
                    "at 2 images per class; from scratch never beats it (up to 5 per class)")
    assert tv.zero_shot_sentence(ROWS) == ""  # no baseline, nothing to say

"""The one facts-card renderer and the score cards: escaping, columns, notes, self-contained styles."""

from __future__ import annotations

import re

from tlweb.viz import cards


def _cells(html: str) -> list[str]:
    return re.findall(r"<div class='[kv]'[^>]*>(.*?)</div>", html)


def test_rows_are_escaped_unless_html():
    out = cards.facts_card([("model", "<evil>"), ("latency", cards.latency(12.345, "cpu", "float32", digits=1))])
    assert "&lt;evil&gt;" in out and "<evil>" not in out
    assert "<b>12.3 ms</b> on cpu (float32)" in out
    assert _cells(out) == ["model", "&lt;evil&gt;", "latency", "<b>12.3 ms</b> on cpu (float32)"]


def test_code_keys_are_monospace_and_notes_follow_the_card():
    out = cards.facts_card([("run", "r1"), ("status", "done")], code=("run",), notes=["a & b", cards.Html("<i>x</i>")])
    assert "<code style='font-size:0.9em; word-break:break-all'>r1</code>" in out
    assert out.index("tl-facts") < out.index("a &amp; b") < out.index("<i>x</i>")
    assert out.count("class='tl-note'") == 2


def test_columns_put_values_side_by_side_and_pad_missing_ones():
    out = cards.facts_card([("family", ["segformer", "upernet"]), ("licence", ["mit"])], columns=["A", "B"])
    assert "repeat(2, minmax(0, 1fr))" in out
    assert out.index(">A<") < out.index(">B<") < out.index("segformer") < out.index("upernet")
    assert _cells(out) == ["family", "segformer", "upernet", "licence", "mit", ""]


def test_card_is_self_contained():
    """Inline styles only (a saved report has no app stylesheet); theme variables with fallbacks."""
    out = cards.facts_card([("k", "v")])
    assert "<style" not in out and "style='display:grid" in out
    assert "style='display:inline-grid" in cards.facts_card([("k", "v")], compact=True)
    for var in re.findall(r"var\(([^)]*)\)", out):
        assert "," in var, var  # every theme colour has a fallback


def test_score_cards_and_value_helpers():
    out = cards.score_cards([("91.5%", "test accuracy", "#4F46E5"), ("<1 s", "wall time", "#F97316")])
    assert out.count("font-size:1.9em") == 2 and "&lt;1 s" in out and "#4F46E555" in out
    assert cards.parameters(12_345) == "12,345" and cards.parameters(86_600_000) == "86.60 M"
    assert cards.model_notes(False, []) == []
    notes = cards.model_notes(True, ["demo-vit"], noise="masks")
    assert "masks are noise" in notes[0] and "demo-vit" in notes[1]

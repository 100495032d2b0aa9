"""Honest numbers: an accuracy measured on a few test images comes with its count and a 95 %
Wilson score interval, and a backbone pretrained only on generated shapes says so when it is
used on photos.

Pure functions (no plotly, no torch): the Fine-tune tab, the CLI and reports share them.
"""

from __future__ import annotations

from tlweb.engine.metrics import Z95, wilson_interval  # noqa: F401 - the interval lives with the metrics

SMALL_TEST = 20  # fewer test images than this: show the count and the interval


def accuracy_text(accuracy: float, n: int, noun: str = "test image") -> str:
    """"92.0 %" for a large test set; "67 % (2 of 3 test images; 95 % interval 21–94 %)" for a
    small one (fewer than :data:`SMALL_TEST`)."""
    if n <= 0:
        return "no test images"
    if n >= SMALL_TEST:
        return f"{accuracy * 100:.1f} %"
    k = round(accuracy * n)
    lo, hi = wilson_interval(k, n)
    plural = noun if n == 1 else noun + "s"
    return f"{accuracy * 100:.0f} % ({k} of {n} {plural}; 95 % interval {lo * 100:.0f}–{hi * 100:.0f} %)"


def small_sample_note(n: int) -> str:
    """A sentence for results measured on fewer than :data:`SMALL_TEST` images (else "")."""
    if n <= 0 or n >= SMALL_TEST:
        return ""
    return (f"Only {n} test image{'s' if n != 1 else ''}: one image more or less right moves the accuracy by "
            f"{100 / n:.0f} points, so read it with its interval; more test images narrow it.")


def synthetic_backbone_note(pretrained_on: str, data_is_generated: bool) -> str:
    """When a demo backbone that knows only generated shapes meets real photos, say so."""
    if data_is_generated or "synthetic" not in (pretrained_on or "").lower():
        return ""
    return (f"This backbone was pretrained only on {pretrained_on}: its features know nothing about photos, "
            "so on real pictures it shows little transfer. Real transfer needs a backbone pretrained on photos "
            "(ImageNet) from the Hugging Face Hub.")

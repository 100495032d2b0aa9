"""docs/api.md: every snippet runs, in order, against the demo app (one gradio_client session)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import EXAMPLES, ROOT

DOC = ROOT / "docs" / "api.md"


def _snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_every_tab_has_a_snippet():
    text = DOC.read_text(encoding="utf-8")
    tabs = ["Classify", "Compare", "Fine-tune", "Segment", "Detect", "Depth", "Explain", "Embeddings", "Learn"]
    assert all(f"\n## {tab}\n" in text for tab in tabs)
    assert len(_snippets()) == len(tabs) + 1  # the client first


@pytest.mark.slow
def test_the_snippets_run_against_the_demo_app(app_url, capsys):
    first, *rest = _snippets()
    assert 'Client("http://127.0.0.1:7860/")' in first and 'IMAGE = "cat.jpg"' in first
    first = first.replace("http://127.0.0.1:7860/", app_url).replace('"cat.jpg"', repr(str(EXAMPLES / "cat.jpg")))
    scope: dict = {}
    exec(compile(first, "api.md:client", "exec"), scope)  # noqa: S102 - the documentation's own code
    for i, code in enumerate(rest, 1):
        exec(compile(code, f"api.md:snippet {i}", "exec"), scope)  # noqa: S102
    out = capsys.readouterr().out
    assert "Done" in out and "demo-resnet-shapes" in out  # the fine-tune finished; Learn named its model

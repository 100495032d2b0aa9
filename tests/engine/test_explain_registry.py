"""The Explain-method registry: every record is complete, the public method values are all there, and a
method registered by a test is dispatched by ``explain()`` and runnable from the CLI without touching either."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.engine.explain_helpers import save, tiny_resnet_model
from tests.registries import explain_methods
from tlweb.engine.explain import (
    ExplainError,
    ExplainMap,
    all_methods,
    before_after,
    before_after_methods,
    explain,
    explain_method,
    find_method,
    get_method,
    method_keys,
    method_name,
)
from tlweb.engine.explain import methods as M
from tlweb.engine.explain import registry as R

# The CLI's --method values and the API's method values are a public promise (scripts send them).
PROMISED = {"features", "attention", "rollout", "gradcam", "occlusion"}


@pytest.mark.parametrize("key", explain_methods())
def test_every_method_has_a_label_help_cost_and_runner(key):
    m = get_method(key)
    assert m.key == key and key.isidentifier() and key == key.lower()
    assert m.label and m.name and m.label.startswith(m.name.split()[0])
    assert m.help.startswith(f"**{m.name}**") and len(m.help) > 100 and "\n" not in m.help  # one paragraph
    assert m.cost and not m.cost.endswith((".", "…"))  # the tab adds the ellipsis
    assert callable(m.runner) and m.runner.__module__.startswith("tlweb.engine.explain.")
    assert m.cnn or m.tokens
    if m.attention:
        assert not m.cnn and m.tokens  # attention weights need a transformer
    assert method_name(key) == m.name and find_method(key) is m


def test_the_promised_values_are_registered_keys_and_labels_unique():
    keys = method_keys()
    assert PROMISED <= set(keys) and len(keys) == len(set(keys))
    assert len({m.label for m in all_methods()}) == len(keys)
    assert keys[0] == "gradcam"  # the default of the CLI, the API and the tab comes first
    assert [m.key for m in before_after_methods()] == [m.key for m in all_methods() if m.before_after]
    assert {m.key for m in before_after_methods()} == {"gradcam", "rollout"}  # the before/after picker's promise


def test_unknown_methods_are_one_sentence(settings, example_image):
    with pytest.raises(ExplainError) as err:
        explain(example_image, "demo-resnet-shapes", "x" * 500, settings=settings)
    text = str(err.value)
    assert text.startswith("Unknown method '") and text.endswith(f"pick one of {', '.join(method_keys())}.")
    assert len(text) < 250 and "\n" not in text  # the key is clipped
    assert find_method(["not", "hashable"]) is None and method_name("nope") == "nope"
    with pytest.raises(ExplainError, match=r"^Before/after shows gradcam or rollout, not 'occlusion'\.$"):
        before_after(example_image, "some-run", "occlusion", settings=settings)


def _spot_runner(loaded, inp, probe, names, want, **_):
    """A test method: the model's own logits, and a 4×4 map with one hot cell (row 1, column 2)."""
    p = M.forward(loaded.model, inp.pixel_values, probe)
    logits = p.logits.detach().float().cpu()
    grid = np.zeros((4, 4), np.float32)
    grid[1, 2] = 1.0
    return {"logits": logits, "target": M.top1(logits) if want is None else want, "layers": [], "layer": None,
            "notes": ["spot"], "map": ExplainMap(grid, inp.width, inp.height, "spot")}


@pytest.fixture
def spot_method(monkeypatch):
    """A sixth method, registered for one test and gone afterwards."""
    monkeypatch.setattr(R.EXPLAIN_METHODS, "_items", dict(R.EXPLAIN_METHODS._items))
    explain_method("spot", "Spot (test)", name="Spot", layers=False, class_specific=False,
                   help="**Spot** marks one cell.", cost="one forward pass")(_spot_runner)
    yield get_method("spot")
    monkeypatch.undo()
    assert find_method("spot") is None


def test_a_registered_method_is_dispatched_by_explain(spot_method, settings, example_image):
    assert method_keys()[-1] == "spot" and spot_method.runner is _spot_runner
    res = explain(example_image, "demo-resnet-shapes", "spot", target="ring", settings=settings)
    assert res.method == "spot" and res.notes[0] == "spot" and res.layer is None and res.class_agnostic
    assert res.target == "ring"  # the target reaches the runner
    assert res.map.peak == (int(2.5 * res.width / 4), int(1.5 * res.height / 4))
    assert res.as_dict()["method"] == "spot"
    with pytest.raises(ExplainError, match="^Before/after shows gradcam or rollout, not 'spot'"):
        before_after(example_image, "some-run", "spot", settings=settings)


def test_a_registered_method_runs_from_the_cli(spot_method, example_image, tmp_path, capsys):
    from tlweb.cli import build_parser, main

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    method_action = next(a for a in sub.choices["explain"]._actions if a.dest == "method")
    assert list(method_action.choices) == method_keys() and "spot" in method_action.choices
    folder = save(tiny_resnet_model(), tmp_path / "resnet", "resnet")
    code = main(["explain", str(example_image), "--model", str(folder), "--method", "spot", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out.strip().splitlines()[-1])
    assert data["method"] == "spot" and data["layer"] is None and data["map_size"] == [384, 255]
    assert data["peak"] == [int(2.5 * 384 / 4), int(1.5 * 255 / 4)]


def _recipe() -> str:
    """The python block of docs/architecture.md's "Adding an Explain method"."""
    import re

    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "architecture.md").read_text()
    part = doc[doc.index("### Adding an Explain method"):]
    return re.search(r"```python\n(.*?)```", part, re.S).group(1)


def test_the_add_an_explain_method_recipe_runs_as_written(monkeypatch, settings, example_image):
    """The recipe's saliency method, registered as written, runs through explain(); its map is Captum's Saliency
    (the largest input-gradient magnitude over the colour channels) on the same model input."""
    from captum.attr import Saliency

    from tlweb.engine.explain import load_for_explain
    from tlweb.engine.explain.inputs import model_input
    from tlweb.engine.images import load_image

    monkeypatch.setattr(R.EXPLAIN_METHODS, "_items", dict(R.EXPLAIN_METHODS._items))
    exec(compile(_recipe(), "architecture.md", "exec"), {})  # noqa: S102 - our own documentation
    record = get_method("saliency")
    assert method_keys()[-1] == "saliency" and not record.layers and record.cnn and record.tokens
    res = explain(example_image, "demo-resnet-shapes", "saliency", settings=settings)
    assert res.method == "saliency" and res.layer is None and not res.map.is_flat
    loaded = load_for_explain("demo-resnet-shapes", settings)
    inp = model_input(load_image(example_image, settings), loaded)
    sal = Saliency(lambda x: loaded.model(pixel_values=x).logits)
    ref = sal.attribute(inp.pixel_values.detach(), target=res.target_index, abs=True)[0].amax(dim=0)
    assert res.map.grid.shape == tuple(ref.shape)
    np.testing.assert_allclose(res.map.grid, ref.float().numpy(), rtol=1e-4, atol=1e-6 * float(ref.max()))

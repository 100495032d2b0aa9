"""The Fine-tune tab driven through gradio_client: load the sample data, fine-tune a tiny demo model
with live curves, then classify with the fine-tuned model through the Classify endpoint."""

from __future__ import annotations

import time
import zipfile

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.conftest import plot_json


@pytest.fixture(scope="module")
def ft(app_url):
    """A client of its own: the Fine-tune tab keeps the loaded data and the stop flag per session."""
    return Client(app_url, verbose=False)


def _traces(value, name_part) -> list[dict]:
    return [t for t in plot_json(value)["data"] if name_part in (t.get("name") or "")]


def _finetune(client, strategy, epochs, model="demo-vit", **kw):
    job = client.submit(model=model, custom_model="", strategy=strategy, epochs=str(epochs), batch_size="auto",
                        lr="auto", per_class=0, api_name="/finetune", **kw)
    final = job.result(timeout=300)
    return final, job.outputs()


def test_api_endpoints_have_named_parameters(ft):
    api = ft.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/load_data", "/finetune", "/stop", "/ladder", "/data_efficiency", "/runs", "/export"):
        assert name in api, name
    params = [p["parameter_name"] for p in api["/finetune"]["parameters"]]
    assert params == ["model", "custom_model", "strategy", "epochs", "batch_size", "lr", "per_class"]
    load = {p["parameter_name"]: p for p in api["/load_data"]["parameters"]}
    assert load["source"]["parameter_default"] == "sample"
    assert all(p["parameter_has_default"] for p in load.values())  # source="sample" alone is a valid call


def test_load_sample_data_shows_counts(ft):
    from tlweb.engine.data import sample_data

    counts_plot, notes = ft.predict(source="sample", api_name="/load_data")
    data = sample_data()
    bars = plot_json(counts_plot)["data"]
    assert [b["name"].split(" ")[0] for b in bars] == ["train", "test"]
    assert list(bars[0]["x"]) == data.class_names
    assert list(bars[0]["y"]) == [data.counts()["train"][c] for c in data.class_names]
    assert f"{len(data.class_names)} classes" in notes


def test_linear_then_full_finetune_stream_curves_and_metrics(ft, settings, example_image):
    from tlweb.engine.runs import list_runs

    ft.predict(source="sample", api_name="/load_data")
    (status, curves, metrics, hint, confusion, per_class, mistakes, table, pick), outputs = \
        _finetune(ft, "linear", 3)
    assert len(outputs) >= 3  # a first frame, live frames, the final frame
    assert "Done" in status and "Linear probe" in status
    assert "test accuracy" in metrics and "macro-F1" in metrics
    # the curves came back: per-step train loss and per-epoch validation accuracy (%)
    assert _traces(curves, "train loss")[0]["x"]
    acc = _traces(curves, "validation accuracy")[0]["y"]
    assert acc and all(0 <= a <= 100 for a in acc)
    hm = plot_json(confusion)["data"][0]
    assert hm["type"] == "heatmap" and len(hm["z"]) == 4
    assert {t["name"] for t in plot_json(per_class)["data"]} == {"precision", "recall"}
    for item in mistakes:
        assert "→" in item["caption"] and "%" in item["caption"]

    linear_run = list_runs(settings)[0]
    assert linear_run.strategy == "linear" and linear_run.status == "done"
    assert linear_run.run_id in hint and linear_run.run_id in (pick.get("value") or "")
    assert linear_run.test_accuracy is not None and f"{linear_run.test_accuracy * 100:.1f}%" in metrics

    (status, curves, metrics, *_rest), _ = _finetune(ft, "full", 1)
    assert "Done" in status and "Full fine-tune" in status and "test accuracy" in metrics
    full_run = list_runs(settings)[0]
    assert full_run.strategy == "full" and full_run.run_id != linear_run.run_id

    # its model classifies in the Classify tab afterwards: the labels are the sample's classes
    for run in (linear_run, full_run):
        plot, facts = ft.predict(handle_file(str(example_image)), "demo-vit", str(run.model_dir), 3,
                                 api_name="/classify")
        labels = set(plot_json(plot)["data"][0]["y"])
        assert labels and labels <= set(run.class_names), (labels, run.class_names)
        assert "latency" in facts


def test_runs_details_and_export(ft, settings, tmp_path):
    from tlweb.engine.runs import list_runs

    def single_runs():  # (a run of an experiment is folded under it in the table)
        return [r for r in list_runs(settings) if not r.experiment_id]

    runs = single_runs()
    if not runs:
        _finetune(ft, "linear", 2)
        runs = single_runs()
    table, pick = ft.predict(api_name="/runs")
    ids = [row[-1] for row in table["data"]]  # the id is the last column (a readable name the first)
    assert runs[0].run_id in ids
    curves, details = ft.predict(runs[0].run_id, api_name="/run_details")
    assert runs[0].run_id in details and "Classify" in details
    assert _traces(curves, "train loss")
    zpath = ft.predict(runs[0].run_id, api_name="/export")
    zpath = zpath["value"] if isinstance(zpath, dict) else zpath
    with zipfile.ZipFile(zpath) as zf:
        assert any(n.endswith("config.json") for n in zf.namelist())


def test_stop_ends_a_run_cleanly(app_url, settings):
    from tlweb.engine.runs import list_runs

    client = Client(app_url, verbose=False)
    job = client.submit(model="demo-vit", custom_model="", strategy="full", epochs="20", api_name="/finetune")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:  # wait until training actually streams
        outs = job.outputs()
        if len(outs) >= 2 and "step" in str(outs[-1][0]):
            break
        time.sleep(0.2)
    client.predict(api_name="/stop")
    final = job.result(timeout=120)
    assert "Stopped" in final[0], final[0]
    run = list_runs(settings)[0]
    assert run.status == "stopped"
    assert (run.model_dir / "config.json").is_file()  # the best model so far was kept
    assert (run.run_dir / "STOP").is_file()  # Stop went through the run folder too (as from another process)


def test_ladder_and_data_efficiency_stream_charts(ft):
    ft.predict(source="sample", api_name="/load_data")
    job = ft.submit(model="demo-vit", custom_model="", strategies=["linear", "scratch"], epochs="1",
                    batch_size="auto", lr="auto", per_class=8, seeds=1, api_name="/ladder")
    status, ladder_plot, curves = job.result(timeout=300)
    assert "Ladder done" in status and "2 runs" in status
    acc = _traces(ladder_plot, "test accuracy")[0]
    assert list(acc["x"]) == ["linear probe", "from scratch"]
    assert all(0 <= v <= 100 for v in acc["y"])
    assert "wall time" in acc["hovertemplate"]
    assert len(job.outputs()) >= 4  # bars appear one strategy at a time

    job = ft.submit(model="demo-vit", custom_model="", strategies=["linear", "scratch"], shots=["1", "2"],
                    epochs="1", batch_size="auto", lr="auto", seeds=1, api_name="/data_efficiency")
    status, eff_plot, _ = job.result(timeout=300)
    assert "Data efficiency done" in status and "4 runs" in status
    fig = plot_json(eff_plot)
    assert fig["layout"]["xaxis"]["type"] == "log"
    lines = {t["name"]: t for t in fig["data"]}
    assert set(lines) == {"pretrained · linear probe", "from scratch (random init)"}
    assert all(list(t["x"]) == [1, 2] for t in lines.values())

    # with seeds, each point is a mean drawn in a band from the worst to the best seed
    job = ft.submit(model="demo-vit", custom_model="", strategies=["linear"], shots=["1", "2"],
                    epochs="1", batch_size="auto", lr="auto", seeds=3, api_name="/data_efficiency")
    status, eff_plot, _ = job.result(timeout=300)
    assert "6 runs" in status and "3 seeds" in plot_json(eff_plot)["layout"]["title"]["subtitle"]["text"]
    fills = [t for t in plot_json(eff_plot)["data"] if t.get("fill") == "tonexty"]
    assert len(fills) == 1 and list(fills[0]["x"]) == [1, 2]


def test_bad_settings_and_sources_give_sentences(ft):
    with pytest.raises(AppError) as info:
        _finetune(ft, "linear", "many")
    assert "Epochs must be" in str(info.value) and "Traceback" not in str(info.value)
    with pytest.raises(AppError) as info:
        ft.predict(source="classes", class_1_name="cats", api_name="/load_data")
    assert "at least two classes" in str(info.value)
    with pytest.raises(AppError) as info:
        ft.predict(source="zip", api_name="/load_data")
    assert "zip" in str(info.value)
    with pytest.raises(AppError) as info:  # tests run offline: a Hub dataset cannot be fetched
        ft.predict(source="hub", hub_id="beans", api_name="/load_data")
    assert "Hub" in str(info.value) and "Traceback" not in str(info.value)
    with pytest.raises(AppError) as info:
        ft.submit(model="demo-vit", custom_model="/no/such/model", strategy="linear", api_name="/finetune").result()
    assert "does not exist" in str(info.value)


def test_push_without_hub_never_echoes_the_token(ft, settings):
    from tlweb.engine.runs import list_runs

    runs = list_runs(settings)
    if not runs:
        pytest.skip("no run to push")
    secret = "hf_notARealTokenButSecret123"
    with pytest.raises(AppError) as info:
        ft.predict(runs[0].run_id, "someone/some-model", secret, True, api_name="/push_to_hub")
    assert secret not in str(info.value)
    for path in settings.runs_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".txt", ".md"):
            assert secret not in path.read_text(errors="ignore"), path


def _shape_images(folder, kind: str, n: int) -> list:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        img = Image.new("RGB", (48, 48), (20 + 10 * i, 30, 60))
        draw = ImageDraw.Draw(img)
        if kind == "dot":
            draw.ellipse((10, 10, 38, 38), fill=(240, 240, 240))
        else:
            draw.rectangle((8 + i % 3, 20, 40, 28), fill=(250, 200, 0))
        path = folder / f"{kind}_{i}.png"
        img.save(path)
        out.append(path)
    return out


def test_per_class_uploads_load_and_count(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    dots = _shape_images(tmp_path / "dots", "dot", 6)
    bars = _shape_images(tmp_path / "bars", "bar", 5)
    counts_plot, notes = client.predict(
        source="classes", class_1_name="dots", class_1_images=[handle_file(str(p)) for p in dots],
        class_2_name="bars", class_2_images=[handle_file(str(p)) for p in bars], api_name="/load_data")
    fig = plot_json(counts_plot)
    totals = {c: 0 for c in ("dots", "bars")}
    for trace in fig["data"]:
        for name, n in zip(trace["x"], trace["y"]):
            totals[name] += n
    assert totals == {"dots": 6, "bars": 5}
    assert "2 classes" in notes
    with pytest.raises(AppError) as info:  # images without a class name
        client.predict(source="classes", class_1_name="", class_1_images=[handle_file(str(dots[0]))],
                       class_2_name="bars", class_2_images=[handle_file(str(p)) for p in bars],
                       api_name="/load_data")
    assert "no name" in str(info.value)


def test_zip_of_class_folders_reports_skipped_files(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    root = tmp_path / "zipdata"
    _shape_images(root / "dots", "dot", 6)
    _shape_images(root / "bars", "bar", 6)
    (root / "bars" / "notes.txt").write_text("not an image")
    zpath = tmp_path / "classes.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in root.rglob("*"):
            zf.write(p, p.relative_to(root))
    counts_plot, notes = client.predict(source="zip", zip_file=handle_file(str(zpath)), api_name="/load_data")
    assert "2 classes" in notes
    assert "Skipped 1" in notes and "notes.txt" in notes
    assert {tuple(t["x"]) for t in plot_json(counts_plot)["data"]} == {("bars", "dots")}


def test_webcam_snapshot_is_added_to_a_class(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    snap = _shape_images(tmp_path / "snap", "dot", 1)[0]
    out = client.predict(handle_file(str(snap)), 1, api_name="/ft_add_capture")
    slot_2 = out[1]
    assert isinstance(slot_2, list) and len(slot_2) == 1

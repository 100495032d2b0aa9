"""The Fine-tune tab's runs section through gradio_client: a ladder is one experiment in the runs
list (with its runs), its details draw the ladder, and deleting asks first, then removes it."""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.conftest import plot_json


@pytest.fixture(scope="module")
def ft(app_url):
    return Client(app_url, verbose=False)


def test_ladder_is_one_experiment_in_the_runs_list_and_can_be_deleted(ft, settings):
    from tlweb.engine.runs import ExperimentInfo, list_entries

    ft.predict(source="sample", api_name="/load_data")
    status, ladder_plot, _ = ft.submit(model="demo-vit", custom_model="", strategies=["linear", "two-step"],
                                       epochs="1", batch_size="auto", lr="auto", per_class=4, seeds=1,
                                       api_name="/ladder").result(timeout=300)
    assert "Ladder done" in status and list(plot_json(ladder_plot)["data"][0]["x"]) == ["linear probe", "two-step"]
    exp = next(e for e in list_entries(settings) if isinstance(e, ExperimentInfo))
    assert exp.kind == "ladder" and exp.status == "done" and [r.strategy for r in exp.runs] == ["linear", "two-step"]

    table, pick = ft.predict("", api_name="/runs")
    rows = table["data"]
    at = next(i for i, row in enumerate(rows) if row[-1] == exp.experiment_id)
    assert rows[at][0] == f"▸ {exp.title} (2 runs)" and rows[at][1] == "done"  # collapsed
    assert not {r.run_id for r in exp.runs} & {row[-1] for row in rows}
    assert exp.experiment_id in [c[1] for c in pick["choices"]]
    # picking the experiment opens it: its runs follow it in the table
    rows = ft.predict(exp.experiment_id, "", api_name="/runs_expand")["data"]
    at = next(i for i, row in enumerate(rows) if row[-1] == exp.experiment_id)
    assert rows[at][0] == f"▾ {exp.title} (2 runs)"
    assert [r[0] for r in rows[at + 1:at + 3]] == ["  └ linear", "  └ two-step"]
    assert [r[-1] for r in rows[at + 1:at + 3]] == [r.run_id for r in exp.runs]
    # the filter keeps what matches every word
    table, pick = ft.predict("ladder two-step", exp.experiment_id, api_name="/runs_filter")
    assert [row[-1] for row in table["data"]][0] == exp.experiment_id
    table, pick = ft.predict("no-such-run-anywhere", None, api_name="/runs_filter")
    assert exp.experiment_id not in str(table["data"]) and not any(row[-1] for row in table["data"])

    chart, details = ft.predict(exp.experiment_id, api_name="/run_details")
    assert [t["type"] for t in plot_json(chart)["data"]][:2] == ["bar", "bar"] and "ladder" in details
    with pytest.raises(AppError, match="pick one of its runs"):
        ft.predict(exp.experiment_id, api_name="/export")

    question = ft.predict(exp.experiment_id, api_name="/delete_ask")  # (the confirm box is not an API output)
    assert f"Delete the experiment {exp.title} (2 runs) for good?" in question
    assert exp.exp_dir.is_dir()  # asking deletes nothing
    table, pick, note = ft.predict(exp.experiment_id, api_name="/delete_run")
    assert "Deleted the experiment" in note and not exp.exp_dir.exists()
    assert exp.experiment_id not in [row[-1] for row in table["data"]]
    with pytest.raises(AppError, match="no run or experiment"):
        ft.predict(exp.experiment_id, api_name="/delete_ask")

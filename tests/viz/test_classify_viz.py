from tlweb.viz.classify import topk_bar
from tlweb.viz.common import message_figure


def test_topk_bar_is_sorted_labelled_and_in_percent():
    fig = topk_bar([{"label": "cat", "score": 0.7}, {"label": "dog", "score": 0.2}], title="t")
    bar = fig.data[0]
    assert list(bar.y) == ["dog", "cat"]  # best on top
    assert abs(bar.x[-1] - 70) < 1e-9
    assert fig.layout.xaxis.title.text == "probability (%)"
    assert fig.layout.yaxis.title.text == "label"


def test_message_figure_has_text():
    fig = message_figure("nothing yet")
    assert fig.layout.annotations[0].text == "nothing yet"

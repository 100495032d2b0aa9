"""One line in the terminal per event a person cares about (the server is ready, a demo model
was built, a model was downloaded), instead of library progress bars.

Engine code calls :func:`event`; ``python app.py`` / ``tlweb serve`` calls :func:`show_events`
so the lines reach the terminal as ``tlweb: …``. Elsewhere (tests, the CLI's JSON commands)
they stay in the logging system at INFO.
"""

from __future__ import annotations

import logging
import sys

EVENTS = logging.getLogger("tlweb.events")


def event(message: str, *args) -> None:
    EVENTS.info(message, *args)


def show_events(stream=None) -> None:
    """Print events as ``tlweb: <message>`` lines (once per process)."""
    if any(getattr(h, "_tlweb_events", False) for h in EVENTS.handlers):
        return
    handler = _LiveStream(stream)
    handler.setFormatter(logging.Formatter("tlweb: %(message)s"))
    handler._tlweb_events = True  # type: ignore[attr-defined]
    EVENTS.addHandler(handler)
    EVENTS.setLevel(logging.INFO)
    EVENTS.propagate = False


class _LiveStream(logging.StreamHandler):
    """Writes to the given stream, or to whatever ``sys.stdout`` is at the time of each line."""

    def __init__(self, stream=None):
        super().__init__(stream or sys.stdout)
        self._fixed = stream

    def emit(self, record) -> None:
        self.stream = self._fixed or sys.stdout
        super().emit(record)


def quiet_libraries() -> None:
    """No progress bars from transformers, huggingface_hub or datasets in the terminal
    ("Writing model shards", "Map", "Fetching files"): the page shows progress instead."""
    import os

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # read when datasets is imported
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - best effort
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except Exception:  # noqa: BLE001
        pass
    if "datasets" in sys.modules:  # never import datasets just to silence it
        try:
            sys.modules["datasets"].disable_progress_bars()
        except Exception:  # noqa: BLE001
            pass

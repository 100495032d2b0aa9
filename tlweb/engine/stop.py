"""Stop: the one way a fine-tune, a ladder or a data-efficiency curve is asked to stop.

A stop request is a ``STOP`` file in the run's folder (or in its experiment's folder, which stops
every run inside). Any process may ask — the Stop button, ``python -m tlweb runs stop``, a closed
browser page, the caller of a ZeroGPU worker — and the training loop, in whatever process it runs,
sees it between two steps. :class:`Stop` is the only code that writes or reads that file; it is a
plain picklable object (folder paths), so it crosses into a forked ZeroGPU worker as it is, and it
is a ``should_stop`` callable.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

STOP_FILE = "STOP"


def now_iso() -> str:
    """Now, to the millisecond: runs started within the same second still list newest first."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


class Stop:
    """The stop request of the folders given (a run folder, then its experiment folder): asked
    when a STOP file is in any of them; :meth:`request` writes it in the first one."""

    def __init__(self, *folders):
        self.folders: tuple[Path, ...] = tuple(Path(f) for f in folders if f is not None)

    def requested(self) -> bool:
        return any((f / STOP_FILE).exists() for f in self.folders)

    def __call__(self) -> bool:  # a ``should_stop``
        return self.requested()

    def request(self, create: bool = False) -> Path | None:
        """Write the STOP file (the time it was asked) into the first folder; returns the file, or
        None when that folder is gone (a run refused before it started), unless ``create``."""
        if not self.folders:
            return None
        folder = self.folders[0]
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            return None
        path = folder / STOP_FILE
        path.write_text(now_iso() + "\n", encoding="utf-8")
        return path

    def clear(self) -> None:
        for f in self.folders:
            (f / STOP_FILE).unlink(missing_ok=True)

    def __eq__(self, other) -> bool:
        return isinstance(other, Stop) and self.folders == other.folders

    def __hash__(self) -> int:
        return hash(self.folders)

    def __repr__(self) -> str:
        return f"Stop({', '.join(repr(str(f)) for f in self.folders)})"

"""Files that ship inside the package: the example images (CC0 / public domain, see
``examples/LICENSE.md``).

Found through :mod:`importlib.resources`, so they are where the installed package is (a wheel,
an editable install, a Space that copied ``tlweb/``), never relative to a source checkout.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from importlib import resources
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@functools.lru_cache(maxsize=1)
def examples_dir() -> Path:
    """The folder of example images as a real folder on disk (gradio serves files by path).

    A package imported from a zip has no such folder: its files are then copied once into a
    temporary folder that is removed when the process exits.
    """
    folder = resources.files(__name__) / "examples"
    if isinstance(folder, Path):
        return folder
    tmp = Path(tempfile.mkdtemp(prefix="tlweb-examples-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    for item in folder.iterdir():
        if item.is_file():
            (tmp / item.name).write_bytes(item.read_bytes())
    return tmp


def example_images() -> list[Path]:
    """The example images, sorted by name."""
    folder = examples_dir()
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def example_image(name: str) -> Path:
    """One example image by file name (``"cat.jpg"``)."""
    path = examples_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"no example image '{name}' in {examples_dir()}")
    return path


def scene_images() -> list[Path]:
    """Generated scenes with known depth (``examples/scenes/``, the Depth tab's examples), sorted by name."""
    folder = examples_dir() / "scenes"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []

"""The bundled example photos (cat, coffee, astronaut, rocket; CC0 / public domain).

One place knows where they live, so the Space builder, the self-check and the reports work
with either layout:

- inside the package, ``tlweb/assets/examples/`` (an installed wheel, a Space folder built
  from it);
- beside the package, ``<repo>/assets/examples/`` (a source checkout, and a Space folder built
  from one, which copies them to the same place relative to ``tlweb/``).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def candidates() -> list[Path]:
    return [PACKAGE / "assets" / "examples", PACKAGE.parent / "assets" / "examples"]


def examples_dir() -> Path | None:
    """The folder holding the example photos, or None when this install has none."""
    for folder in candidates():
        if folder.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
            return folder
    return None


def inside_package() -> bool:
    """Whether the examples travel with the package (copying ``tlweb/`` copies them)."""
    folder = examples_dir()
    return folder is not None and folder.is_relative_to(PACKAGE)


def example_images() -> list[Path]:
    folder = examples_dir()
    if folder is None:
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def example(name: str) -> Path | None:
    """One example by file name or stem ("cat" or "cat.jpg"); None when missing."""
    for path in example_images():
        if name in (path.name, path.stem):
            return path
    return None

"""Hugging Face Spaces entry point for tlweb (the Space's ``app_file``).

Two layouts are supported:

- **In the Space repo**, this file is ``app.py`` at the root, beside ``tlweb/``.
  Python already puts the script's folder first on ``sys.path``, so ``tlweb`` imports as is.
  There is no ``spaces/`` folder in that repo, so nothing can hide the ``spaces`` package.
- **In this repo**, it runs as ``python spaces/app.py``. Then ``sys.path[0]`` is ``spaces/``
  itself, and ``tlweb`` lives one folder up, so we *append* the repo root to ``sys.path``.

Why this never shadows the ``spaces`` package (ZeroGPU):

1. ``import spaces`` happens first, before this file touches ``sys.path``. ZeroGPU also wants
   it imported before anything initialises CUDA.
2. The repo root is appended at the end of ``sys.path``, after site-packages, never inserted in
   front of it.
3. ``spaces/`` has no ``__init__.py``. Python prefers a regular package found anywhere on the
   path to a bare folder (a namespace-package portion), so even with the repo root first, an
   installed ``spaces`` still wins. Only when the package is *missing* does ``import spaces``
   from the repo root give back this folder as an empty namespace package. ``gpu_package()``
   spots that case (no ``GPU`` attribute) and returns ``None``.

Environment variables read: everything ``tlweb.config.Settings.from_env`` reads (``TLWEB_DEMO``,
``TLWEB_HOME``, ``TLWEB_DEVICE`` …), plus ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``.
Spaces needs ``0.0.0.0:7860``, which is the default here.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
DEFAULT_HOST = "0.0.0.0"  # Spaces routes traffic to the container on every interface
DEFAULT_PORT = 7860


def gpu_package() -> ModuleType | None:
    """The ZeroGPU ``spaces`` package if it is installed, else ``None``.

    A namespace package made from a stray ``spaces/`` folder has no ``GPU``, so it counts as
    missing.
    """
    try:
        module = importlib.import_module("spaces")
    except ImportError:
        return None
    return module if callable(getattr(module, "GPU", None)) else None


# Step 1 above: import the package before sys.path changes and before torch can touch CUDA.
SPACES = gpu_package()


def _project_root() -> Path | None:
    """The folder that holds ``tlweb/``: this folder (Space repo) or its parent (this repo)."""
    for root in (HERE, HERE.parent):
        if (root / "tlweb" / "__init__.py").is_file():
            return root
    return None


def ensure_tlweb_importable() -> Path | None:
    """Make ``import tlweb`` work in both layouts; returns the folder that holds ``tlweb/``.

    The folder is appended after site-packages (step 2 above), and only when it is not on the
    path already.
    """
    root = _project_root()
    if root is None:
        return None
    on_path = {Path(p or os.getcwd()).resolve() for p in sys.path}
    if root not in on_path:
        sys.path.append(str(root))
    return root


def build_settings():
    """Settings for a Space: ``Settings.from_env()`` bound to ``0.0.0.0:7860`` unless overridden.

    Host: ``GRADIO_SERVER_NAME``, else ``TLWEB_HOST``, else 0.0.0.0. Port: ``GRADIO_SERVER_PORT``,
    else ``TLWEB_PORT``, else 7860. ``TLWEB_HOME`` defaults to ``/data/tlweb`` on a Space with
    persistent storage (``/data`` writable), so fine-tuned runs survive restarts.
    """
    ensure_tlweb_importable()
    from tlweb.config import Settings

    settings = Settings.from_env()
    host = os.environ.get("GRADIO_SERVER_NAME") or os.environ.get("TLWEB_HOST") or DEFAULT_HOST
    raw_port = os.environ.get("GRADIO_SERVER_PORT") or os.environ.get("TLWEB_PORT") or ""
    try:
        port = int(raw_port) if raw_port.strip() else DEFAULT_PORT
    except ValueError:
        port = DEFAULT_PORT
    changes = {"host": host, "port": port}
    data = Path("/data")
    if not os.environ.get("TLWEB_HOME") and os.environ.get("SPACE_ID") and data.is_dir() and os.access(data, os.W_OK):
        changes["home"] = data / "tlweb"
    return settings.replace(**changes)


def main() -> None:
    settings = build_settings()
    from tlweb.config import set_settings
    from tlweb.ui.app import launch

    set_settings(settings)
    gpu = "spaces package present" if SPACES is not None else "no spaces package"
    print(f"tlweb (Spaces): serving on http://{settings.host}:{settings.port} ({gpu})"
          + (" (demo models)" if settings.demo else ""), flush=True)
    launch(settings)


if __name__ == "__main__":
    main()

"""tlweb: a browser workbench for transfer learning in computer vision.

The public engine API lives here. Importing this package loads no model, touches no
network and imports neither gradio nor plotly: heavy modules are imported lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "get_settings", "list_models", "resolve", "classify", "load_image"]


def __getattr__(name: str):  # lazy re-exports keep `import tlweb` cheap
    if name == "get_settings":
        from tlweb.config import get_settings

        return get_settings
    if name in ("list_models", "resolve"):
        from tlweb.engine import listing

        return getattr(listing, name)
    if name == "classify":
        from tlweb.engine.classify import classify

        return classify
    if name == "load_image":
        from tlweb.engine.images import load_image

        return load_image
    raise AttributeError(name)

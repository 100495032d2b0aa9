"""The web UI (the only package that imports gradio)."""


def build_app(settings=None):
    from tlweb.ui.app import build_app as _build

    return _build(settings)

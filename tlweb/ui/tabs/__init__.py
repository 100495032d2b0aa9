"""One module per tab: ``TITLE`` and ``build(settings)``; each runs alone via ``python -m``."""

"""The engine: torch / transformers / datasets / evaluate only — never gradio, never plotly.

Submodules are imported on use; importing this package loads nothing heavy.
"""

"""Pure functions: engine results → plotly figures, PIL overlays, HTML. No gradio here."""

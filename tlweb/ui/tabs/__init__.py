"""One module per tab, registered in :mod:`tlweb.registry` (``register_tab``): ``build(settings)``
returns a :class:`tlweb.ui.components.TabHandle`; each runs alone via ``python -m``."""

"""Demo models that tlweb trains itself (with its own fine-tune) and ships: their records and recipes.

They stand above the training engine, which the loader never imports: :mod:`tlweb.engine.demo` lists these
modules by name in its ``MODULES`` and imports them when its registry is first read. Their weights ship
inside :mod:`tlweb.engine.demo` (``weights/<key>/``, see :mod:`tlweb.engine.demo.ship`).
"""

"""pluralign: pluralistic alignment workbench (library core; never imports streamlit).

Data flows one way, one package per stage; a package imports only from the packages before it::

    ratings (import | simulate) -> store (DuckDB) -> analysis
                                  -> preferences -> rewards -> [models] -> training (SFT | DPO | GRPO)
                                  -> evaluation -> experiments (grid, trade-offs);  chat (side by side)

``paths``, ``config_base`` and ``launcher`` are shared infrastructure; ``cli`` and ``commands`` sit on
top. ``docs/architecture.md`` draws the stages and says which package owns what.
"""

__version__ = "0.1.0"

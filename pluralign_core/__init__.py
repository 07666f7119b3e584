"""pluralign: pluralistic alignment workbench (library core; never imports streamlit).

Data flows one way, one module per stage::

    ratings (importing | simulate) -> store (DuckDB) -> analysis
                                        -> preferences -> rewards -> training (DPO | GRPO) -> registry
                                        -> evaluation -> trade-offs; chat (side by side)
"""

__version__ = "0.1.0"

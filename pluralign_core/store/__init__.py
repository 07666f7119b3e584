"""Stage 2, the DuckDB store: datasets, raters, ratings, the artifact registry and rater selections.

``database`` is the store itself, ``host`` the per-process DuckDB instance it attaches files to,
``selection`` the one way to say which raters count, ``catalog`` the questions pages ask about a dataset
(attribute values, prompt facets, response texts), ``bootstrap`` the simulated default dataset.
"""

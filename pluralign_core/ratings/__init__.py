"""Stage 1, ratings in: import a ratings file (mapping, reading, row checks) or simulate a population.

Both produce a :class:`~pluralign_core.ratings.bundle.DatasetBundle`; the store writes it. ``schema`` holds
the vocabulary every later stage shares (scales, dimensions, demographic attributes).
"""

"""Stage 8, experiments: the design-choice grid and its trade-off tables.

One module per seam: :mod:`.grid_config` (what to compare, presets), :mod:`.plan` (the one planner),
:mod:`.state` (grid.json), :mod:`.execute` (reward models, then each cell's training and evaluation),
:mod:`.process` (the grid in the background, through the shared launcher) and :mod:`.tradeoffs` (tables).
"""

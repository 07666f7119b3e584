"""Stage 8, experiments: the design-choice grid (plan, state, execution) and its trade-off tables."""

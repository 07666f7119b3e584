"""Slicing ratings by demographics: group means, percent differences, agreement and a mixed model.

Aggregation happens in DuckDB; statistics are computed on the aggregates. Nothing here imports streamlit.
"""

from pluralign_core.analysis.agreement import alpha_by_group, disagreement_decomposition, krippendorff_alpha
from pluralign_core.analysis.effects import percent_differences, pooled_difference
from pluralign_core.analysis.filters import AnalysisFilter
from pluralign_core.analysis.regression import mixed_model
from pluralign_core.analysis.slices import DEFAULT_MIN_GROUP_RATERS, group_means, score_distribution

__all__ = [
    "DEFAULT_MIN_GROUP_RATERS",
    "AnalysisFilter",
    "alpha_by_group",
    "disagreement_decomposition",
    "group_means",
    "krippendorff_alpha",
    "mixed_model",
    "percent_differences",
    "pooled_difference",
    "score_distribution",
]

"""Test helper: read a table the pages show under readable names back into the machine names, so a test
can check its numbers against the core's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from pluralign_core.analysis.display import readable_name

MACHINE_COLUMNS = (
    "dimension", "reference", "mean", "sd", "n_raters", "n_ratings", "small_group", "diff", "diff_ci_low",
    "diff_ci_high", "pct_diff", "pct_ci_low", "pct_ci_high", "p_value", "p_adjusted", "coef", "estimable",
    "identified", "name", "attribute", "published_pct", "measured_pct", "measured_ci_low",
    "measured_ci_high", "difference_pts", "alpha", "se", "ci_low", "ci_high", "kind", "message", "row",
)  # fmt: skip


def machine_frame(
    frame: pd.DataFrame,
    headers: Mapping[str, str] | None = None,
    values: Mapping[str, Mapping[str, str]] | None = None,
    columns: Iterable[str] = MACHINE_COLUMNS,
) -> pd.DataFrame:
    """``frame`` with ``columns``' readable headers renamed back (``headers``: readable → machine for the
    dataset's own labels, e.g. ``{"Gender": "group"}``) and cells relabelled back by ``values``."""
    names = {readable_name(c): c for c in columns}
    names.update(headers or {})
    machine = frame.rename(columns=names)
    for column, mapping in (values or {}).items():
        if column in machine:
            machine[column] = machine[column].map(lambda v, m=mapping: m.get(v, v))
    return machine

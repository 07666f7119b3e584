"""Why a built preference set is empty, in one sentence that matches its own counts.

An empty set has three different causes that call for different fixes: nothing was rated by the
selection (widen it), no two responses share a prompt (the data cannot give pairs), or every pair tied
(a finer scale or more raters helps). Telling them apart from the build's stats keeps the message true.
"""

from __future__ import annotations

from typing import Any


def no_pairs_reason(stats: dict[str, Any]) -> str:
    """The reason a build gave no pairs, read from :func:`~pluralign_core.preferences.build` stats."""
    if stats.get("raters_used", 0) == 0:
        return (
            "These choices give no pairs: none of the selected raters rated responses that share a prompt "
            "on every chosen dimension. Widen the rater selection or choose other dimensions."
        )
    if stats.get("response_pairs", 0) == 0:
        return (
            "These choices give no pairs: no prompt has two responses rated by the selected raters, so "
            "there is nothing to compare. Widen the rater selection or the prompt language."
        )
    ties = stats.get("ties_dropped", 0)
    return (
        f"These choices give no pairs: all {ties:,} response pairs tied. Try a finer scale, another "
        "disagreement mode or more raters."
    )

"""The item browser's charts: how each group rated each answer of one prompt (no widgets, no statistics).

Stacked bars use the dataset's own scale labels, lowest answer first in the project's diverging palette;
group names carry their colour from the shared palette (:mod:`pluralign_core.analysis.colours`), so a group
looks the same here as on Explore; the means chart draws each group in that colour with its 95% CI,
clipped at the scale ends.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from pluralign_core.analysis import display
from pluralign_core.analysis.colours import value_colour
from pluralign_core.ratings.schema import Scale


def _coloured(group: str) -> str:
    return f'<span style="color:{value_colour(group)}">■</span> {group}'


def distribution_chart(
    counts: pd.DataFrame, answer_names: dict[str, str], groups: list[str], scale: Scale, dimension_label: str
) -> go.Figure:
    """One row of stacked bars per answer: the share of each scale point per group (counts on hover)."""
    order = display.answer_order(scale)
    data = counts.assign(
        answer_name=counts.response_id.map(answer_names),
        rating=[display.answer_label(scale, int(s)) for s in counts.score],
        percent=100 * counts.share.fillna(0),
        group_shown=counts.group.map(_coloured),
    )
    answers = [answer_names[r] for r in dict.fromkeys(counts.response_id)]
    fig = px.bar(
        data,
        x="percent",
        y="group_shown",
        color="rating",
        orientation="h",
        facet_row="answer_name",
        category_orders={"rating": order, "answer_name": answers},
        color_discrete_map=dict(zip(order, display.answer_colours(scale), strict=True)),
        custom_data=["group", "n_ratings"],
        facet_row_spacing=min(0.3 / len(answers), 0.08),
        labels={"percent": "% of ratings", "group_shown": "", "rating": dimension_label},
    )
    fig.update_traces(
        hovertemplate="%{customdata[0]}: %{x:.0f}% (%{customdata[1]} ratings)<extra>%{fullData.name}</extra>"
    )
    _answer_titles(fig)
    shown = [_coloured(g) for g in groups if g in set(counts.group)]
    fig.update_yaxes(categoryorder="array", categoryarray=shown[::-1], title_text="")
    fig.update_layout(
        barmode="stack",
        height=110 + len(answers) * (40 + 26 * len(shown)),
        legend={"orientation": "h", "y": -0.08 if len(answers) > 2 else -0.2, "x": 0, "traceorder": "normal"},
        margin={"t": 30},
    )
    return fig


def _answer_titles(fig: go.Figure) -> None:
    """Facet titles ("Answer 1") above each row of bars, left-aligned, instead of rotated on the right."""
    domains = sorted(
        (axis["domain"] for name, axis in fig.layout.to_plotly_json().items() if name.startswith("yaxis")),
        key=lambda d: d[0],
    )
    for annotation in fig.layout.annotations:
        top = min(domains, key=lambda d: abs((d[0] + d[1]) / 2 - annotation.y))[1]
        annotation.update(
            text=f"<b>{annotation.text.split('=', 1)[-1]}</b>",
            textangle=0,
            x=0,
            xanchor="left",
            y=top,
            yanchor="bottom",
        )


def means_chart(
    means: pd.DataFrame, answer_names: dict[str, str], groups: list[str], scale: Scale, dimension_label: str
) -> go.Figure:
    """Each group's mean rating of each answer with its 95% CI; a group of one rater has no interval."""
    fig = go.Figure()
    table = display.clip_to_scale(means, scale)
    for group in [g for g in groups if g in set(table.group)]:
        one = table[table.group == group]
        fig.add_trace(
            go.Scatter(
                x=one.response_id.map(answer_names),
                y=one["mean"],
                mode="markers",
                name=group,
                marker={"size": 10, "color": value_colour(group)},
                error_y={
                    "type": "data",
                    "array": (one.ci_high_shown - one["mean"]).fillna(0),
                    "arrayminus": (one["mean"] - one.ci_low_shown).fillna(0),
                },
                customdata=one[["n_raters", "ci_low", "ci_high"]].to_numpy(),
                hovertemplate="%{x}: %{y:.2f} [%{customdata[1]:.2f}, %{customdata[2]:.2f}], "
                "%{customdata[0]} raters<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_yaxes(range=[scale.minimum - 0.2, scale.maximum + 0.2], title_text=f"mean {dimension_label}")
    fig.update_layout(
        scattermode="group", height=360, legend_title_text="group", xaxis_title="", margin={"t": 30}
    )
    return fig

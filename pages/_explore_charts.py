"""Explore's charts: plotly figures built from the analysis tables (no widgets here, no statistics).

Split from ``pages/explore.py`` so that the page keeps to its widgets and layout; every figure carries its
uncertainty (CIs as error bars, clipped at the scale ends with a marker; small groups drawn hollow).
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from pluralign_core.analysis import display
from pluralign_core.analysis.colours import group_colours
from pluralign_core.analysis.effects import CROSS_SEPARATOR


def group_label(table: pd.DataFrame) -> pd.Series:
    if "group2" in table:
        return table.group + CROSS_SEPARATOR + table.group2
    return table.group


def means_chart(table: pd.DataFrame, dim_labels: dict[str, str], attribute_label: str, scale) -> go.Figure:
    """One trace per dimension, groups on x, 95% CI as error bars; hollow markers for small groups.

    CIs are drawn clipped at the scale ends, and a clipped end gets a triangle, so a 2-rater group's
    interval cannot stretch the axis until every other group looks flat."""
    fig = go.Figure()
    table = display.clip_to_scale(table, scale)
    x = group_label(table)
    for dimension in dict.fromkeys(table.dimension):
        rows = table.dimension == dimension
        one = table[rows]
        fig.add_trace(
            go.Scatter(
                x=x[rows],
                y=one["mean"],
                mode="markers",
                name=dim_labels.get(dimension, dimension),
                marker={"size": 10, "symbol": ["circle-open" if s else "circle" for s in one.small_group]},
                error_y={
                    "type": "data",
                    "array": one.ci_high_shown - one["mean"],
                    "arrayminus": one["mean"] - one.ci_low_shown,
                },
                customdata=one[["n_raters", "n_ratings", "ci_low", "ci_high"]].to_numpy(),
                hovertemplate="%{x}: %{y:.3f} [%{customdata[2]:.3f}, %{customdata[3]:.3f}]<br>"
                "%{customdata[0]} raters, %{customdata[1]} ratings<extra>%{fullData.name}</extra>",
            )
        )
    for end, symbol, column in (("top", "triangle-up", "ci_high"), ("bottom", "triangle-down", "ci_low")):
        bound = scale.maximum if end == "top" else scale.minimum
        cut = table[(table[column] > scale.maximum) if end == "top" else (table[column] < scale.minimum)]
        if not cut.empty:
            fig.add_trace(
                go.Scatter(
                    x=group_label(cut),
                    y=[bound] * len(cut),
                    mode="markers",
                    name=f"CI clipped at the scale {end}",
                    marker={"symbol": symbol, "size": 9, "color": "grey"},
                    hovertemplate=f"%{{x}}: CI reaches past {bound} (clipped)<extra></extra>",
                )
            )
    low = float(pd.concat([table.ci_low_shown, table["mean"]]).min(skipna=True))
    high = float(pd.concat([table.ci_high_shown, table["mean"]]).max(skipna=True))
    pad = max(0.1, 0.1 * (high - low))
    fig.update_yaxes(range=[low - pad, high + pad])
    fig.update_layout(
        scattermode="group",
        height=420,
        xaxis_title=attribute_label,
        yaxis_title="mean rating (95% CI, clustered by rater)",
        legend_title_text="Dimension",
    )
    return fig


def likert_chart(table: pd.DataFrame, dim_labels: dict[str, str], scale):
    """Stacked shares per group, answers lowest first in a diverging palette, with the dataset's labels."""
    data = table.assign(
        dimension_label=table.dimension.map(dim_labels).fillna(table.dimension),
        answer=[display.answer_label(scale, int(s)) for s in table.score],
        percent=100 * table.share,
    )
    order = display.answer_order(scale)
    colours = dict(zip(order, display.answer_colours(scale), strict=True))
    fig = px.bar(
        data,
        x="percent",
        y="group",
        color="answer",
        orientation="h",
        facet_row="dimension_label",
        category_orders={"answer": order},
        color_discrete_map=colours,
        hover_data={"n_ratings": True, "percent": ":.1f"},
        labels={"percent": "% of ratings", "group": "", "answer": "Answer", "n_ratings": "Ratings"},
    )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(barmode="stack", height=max(260, 170 * data.dimension.nunique()))
    fig.update_yaxes(categoryorder="array", categoryarray=list(dict.fromkeys(data.group))[::-1])
    return fig


def heatmap(table: pd.DataFrame, dim_labels: dict[str, str]) -> go.Figure:
    stars = table.significant.map({True: " *", False: ""})
    text = table.pct_diff.map("{:+.1f}%".format).where(table.estimable, "not estimable") + stars
    pivot = table.assign(text=text, dimension_label=table.dimension.map(dim_labels).fillna(table.dimension))
    values = pivot.pivot(index="group", columns="dimension_label", values="pct_diff")
    labels = pivot.pivot(index="group", columns="dimension_label", values="text")
    order = list(dict.fromkeys(table.group))
    dims = list(dict.fromkeys(pivot.dimension_label))
    values, labels = values.loc[order, dims], labels.loc[order, dims]
    bound = float(max(abs(values.min().min()), abs(values.max().max()), 1.0))
    fig = go.Figure(
        go.Heatmap(
            z=values.to_numpy(),
            x=dims,
            y=order,
            text=labels.to_numpy(),
            texttemplate="%{text}",
            colorscale="RdBu_r",
            zmin=-bound,
            zmax=bound,
            colorbar={"title": "% diff"},
        )
    )
    fig.update_layout(height=max(300, 60 * len(order) + 160), yaxis={"autorange": "reversed"})
    return fig


def coefficient_chart(table: pd.DataFrame, dim_labels: dict[str, str]) -> go.Figure:
    table = table[table.identified]
    data = table.assign(
        dimension_label=table.dimension.map(dim_labels).fillna(table.dimension),
        plus=table.ci_high - table.coef,
        minus=table.coef - table.ci_low,
    )
    fig = px.scatter(
        data,
        x="coef",
        y="group",
        color="dimension_label",
        error_x="plus",
        error_x_minus="minus",
        labels={"coef": f"difference from {table.reference.iloc[0]} (scale points, 95% CI)", "group": ""},
    )
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(
        scattermode="group", legend_title_text="Dimension", height=120 + 60 * data.group.nunique()
    )
    return fig


def raters_per_group(means: pd.DataFrame) -> pd.DataFrame:
    """Raters per group of the first attribute (the answer distribution does not cross attributes)."""
    per_dimension = means.groupby(["dimension", "group"], sort=False).n_raters.sum()
    return per_dimension.groupby(level="group", sort=False).max().reset_index()


def alpha_chart(alphas: pd.DataFrame, dim_labels: dict[str, str], attribute_label: str) -> go.Figure:
    """Krippendorff's alpha per dimension, one bar per group; small groups hatched."""
    view = alphas.assign(dimension=alphas.dimension.map(dim_labels).fillna(alphas.dimension))
    return px.bar(
        view,
        x="dimension",
        y="alpha",
        color="group",
        color_discrete_map=group_colours(list(view.group)),
        barmode="group",
        hover_data=["n_raters", "n_units"],
        pattern_shape="small_group",
        pattern_shape_map={True: "/", False: ""},
        labels={
            "alpha": "Krippendorff's alpha (ordinal)",
            "dimension": "",
            "group": attribute_label,
            **{c: display.readable_name(c) for c in ("n_raters", "n_units", "small_group")},
        },
    )


def split_chart(split: pd.DataFrame, dim_labels: dict[str, str]) -> go.Figure:
    """Share of disagreement between and within groups, one stacked bar per dimension."""
    view = split.assign(dimension=split.dimension.map(dim_labels).fillna(split.dimension))
    shares = view.melt(id_vars="dimension", value_vars=["share_between", "share_within"])
    fig = px.bar(
        shares.assign(variable=shares.variable.map(display.readable_name)),
        x="value",
        y="dimension",
        color="variable",
        orientation="h",
        labels={"value": "share of disagreement", "dimension": "", "variable": ""},
    )
    fig.update_layout(barmode="stack", height=120 + 50 * len(view))
    return fig

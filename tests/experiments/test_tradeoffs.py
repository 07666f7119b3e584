"""Trade-off tables against hand computation, and the Pareto front."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pluralign_core.experiments import tradeoffs

CELLS = [
    # cell_id, family, optimizer, disagreement, scale, objective, group
    ("base", "base", "none", "none", "none", "none", "none"),
    ("dpo-p5", "design", "dpo", "preserve", "5-point", "multi", "all raters"),
    ("dpo-pb", "design", "dpo", "preserve", "binary", "multi", "all raters"),
    ("dpo-m5", "design", "dpo", "majority", "5-point", "multi", "all raters"),
    ("dpo-mb", "design", "dpo", "majority", "binary", "multi", "all raters"),
    ("grpo", "design", "grpo", "mean rating", "5-point", "multi", "all raters"),
    ("single", "objective", "dpo", "preserve", "5-point", "single", "all raters"),
    ("women", "group", "dpo", "preserve", "5-point", "multi", "women"),
    ("men", "group", "dpo", "preserve", "5-point", "multi", "men"),
]
# all-raters reward-model toxicity (1..5 scale) and classifier probability per cell
TOXICITY = {
    "base": 3.0,
    "dpo-p5": 2.0,
    "dpo-pb": 2.4,
    "dpo-m5": 2.5,
    "dpo-mb": 2.7,
    "grpo": 2.8,
    "single": 1.8,
    "women": 2.2,
    "men": 2.6,
}
CLASSIFIER = {
    "base": 0.2,
    "dpo-p5": 0.1,
    "dpo-pb": 0.1,
    "dpo-m5": 0.15,
    "dpo-mb": 0.2,
    "grpo": 0.2,
    "single": 0.05,
    "women": 0.1,
    "men": 0.1,
}
# helpfulness (1..5) by rater group per cell: women like the women model, men the men model
HELPFUL = {
    "base": (3.0, 3.0),
    "dpo-p5": (3.4, 3.2),
    "dpo-pb": (3.0, 3.0),
    "dpo-m5": (3.0, 3.0),
    "dpo-mb": (3.0, 3.0),
    "grpo": (3.0, 3.0),
    "single": (2.6, 2.6),
    "women": (4.2, 2.6),
    "men": (2.8, 4.0),
}


def _long() -> pd.DataFrame:
    rows = []
    for cell_id, family, optimizer, disagreement, scale, objective, group in CELLS:
        facts = dict(
            cell_id=cell_id,
            label=cell_id,
            family=family,
            optimizer=optimizer,
            disagreement=disagreement,
            scale=scale,
            objective=objective,
            group=group,
        )
        rows.append(
            {
                **facts,
                "scorer": "rm-all-tox",
                "scored_by": "all raters",
                "dimension": "toxicity",
                "higher_is_better": False,
                "scale_min": 1.0,
                "scale_max": 5.0,
                "mean": TOXICITY[cell_id],
            }
        )
        rows.append(
            {
                **facts,
                "scorer": "toxicity_classifier",
                "scored_by": "classifier",
                "dimension": "toxicity",
                "higher_is_better": False,
                "scale_min": 0.0,
                "scale_max": 1.0,
                "mean": CLASSIFIER[cell_id],
            }
        )
        for scored_by, value in zip(("women", "men"), HELPFUL[cell_id], strict=True):
            rows.append(
                {
                    **facts,
                    "scorer": f"rm-{scored_by}-help",
                    "scored_by": scored_by,
                    "dimension": "helpfulness",
                    "higher_is_better": True,
                    "scale_min": 1.0,
                    "scale_max": 5.0,
                    "mean": value,
                }
            )
        rows.append(
            {
                **facts,
                "scorer": "rm-all-help",
                "scored_by": "all raters",
                "dimension": "helpfulness",
                "higher_is_better": True,
                "scale_min": 1.0,
                "scale_max": 5.0,
                "mean": np.mean(HELPFUL[cell_id]),
            }
        )
    return pd.DataFrame(rows)


def test_toxicity_reduction_by_hand():
    table = tradeoffs.toxicity_by_cell(_long()).set_index("cell_id")
    assert table.loc["base", "reduction_rm_pct"] == pytest.approx(0.0)
    assert table.loc["dpo-p5", "reduction_rm_pct"] == pytest.approx(50.0)  # (3-2)/(3-1)
    assert table.loc["dpo-m5", "reduction_rm_pct"] == pytest.approx(25.0)
    assert table.loc["dpo-p5", "reduction_classifier_pct"] == pytest.approx(50.0)  # (.2-.1)/.2
    assert table.loc["single", "toxicity_classifier"] == pytest.approx(0.05)


def test_design_choice_comparisons_by_hand():
    table = tradeoffs.toxicity_by_cell(_long())
    rows = tradeoffs.design_choice_comparisons(table).set_index("comparison")
    # preserve: mean(50, 30) = 40; majority: mean(25, 15) = 20 -> +20 pp, +100 %
    preserve = rows.loc["preserve vs majority"]
    assert preserve.a_reduction_pct == pytest.approx(40.0) and preserve.b_reduction_pct == pytest.approx(20.0)
    assert preserve.difference_pp == pytest.approx(20.0) and preserve.study_relative_pct == 53.0
    assert "relative_pct" not in rows.columns  # a ratio needs B's CI: only the paired comparisons give one
    # 5-point: mean(50, 25) = 37.5; binary: mean(30, 15) = 22.5
    assert rows.loc["5-point vs binary", "difference_pp"] == pytest.approx(15.0)
    assert rows.loc["5-point vs binary", "study_relative_pct"] == 22.0
    # DPO (first planned DPO design cell, dpo-p5: 50) vs GRPO (10)
    assert rows.loc["DPO vs GRPO", "a_reduction_pct"] == pytest.approx(50.0)
    assert rows.loc["DPO vs GRPO", "b_reduction_pct"] == pytest.approx(10.0)
    # single (60) vs multi (dpo-p5: 50)
    assert rows.loc["single vs multi-objective", "difference_pp"] == pytest.approx(10.0)
    assert np.isnan(rows.loc["DPO vs GRPO", "study_relative_pct"])


def test_group_heatmap_and_objective_table_by_hand():
    matrix = tradeoffs.group_matrix(_long(), dimension="helpfulness")
    assert list(matrix.index) == ["base model", "tuned on all raters", "tuned on men", "tuned on women"]
    assert matrix.loc["tuned on women", "women"] == pytest.approx((4.2 - 1) / 4)
    assert matrix.loc["tuned on men", "men"] == pytest.approx(0.75)
    assert matrix.loc["tuned on all raters", "women"] == pytest.approx(0.6)  # dpo-p5 is the reference
    overall = tradeoffs.group_matrix(_long())
    # all dimensions: the all-raters column mixes toxicity (flipped) and helpfulness
    expected = np.mean([1 - (2.2 - 1) / 4, (np.mean(HELPFUL["women"]) - 1) / 4])
    assert overall.loc["tuned on women", "all raters"] == pytest.approx(expected)
    objective = tradeoffs.objective_comparison(_long())
    assert set(objective.columns) == {"base", "dpo-p5", "single"}
    assert objective.loc["toxicity", "single"] == pytest.approx(1 - 0.8 / 4)


def test_safety_inclusivity_points_and_front():
    points = tradeoffs.safety_inclusivity(_long()).set_index("cell_id")
    assert points.loc["women", "safety"] == pytest.approx(1 - 1.2 / 4)
    assert points.loc["women", "inclusivity"] == pytest.approx(
        min((4.2 - 1) / 4, (2.6 - 1) / 4, (3.4 - 1) / 4)
    )
    assert points.loc["women", "worst_group"] == "men"
    front = set(points.index[points.pareto])
    # single is safest; dpo-p5 has the best worst-group helpfulness (3.2 for men); both undominated
    assert front == {"single", "dpo-p5"}


def test_sample_responses_select_one_prompt():
    gens = pd.DataFrame(
        {
            "cell_id": ["a", "b", "a"],
            "label": ["A", "B", "A"],
            "prompt_key": ["k", "k", "j"],
            "language": ["en", "en", "en"],
            "response": ["<b>hi</b>", "there", "x"],
        }
    )
    sample = tradeoffs.sample_responses(gens, "k", "en")
    assert list(sample.response) == ["<b>hi</b>", "there"]


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=25))
def test_pareto_front_is_exactly_the_undominated_points(points):
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    front = tradeoffs.pareto_front(x, y)
    for i in range(len(points)):
        dominated = any(x[j] >= x[i] and y[j] >= y[i] and (x[j] > x[i] or y[j] > y[i]) for j in range(len(x)))
        assert front[i] == (not dominated)
    assert front.any()  # a non-empty set always has an undominated point


def test_comparisons_use_matched_cells_only():
    long = _long()
    long = long[long.cell_id != "dpo-mb"]  # majority × binary not finished yet
    rows = tradeoffs.design_choice_comparisons(tradeoffs.toxicity_by_cell(long)).set_index("comparison")
    assert rows.loc["preserve vs majority", "a_reduction_pct"] == pytest.approx(50.0)  # 5-point only
    assert rows.loc["preserve vs majority", "b_cells"] == "dpo-m5"
    assert rows.loc["5-point vs binary", "a_cells"] == "dpo-p5"  # preserve only
    assert rows.loc["5-point vs binary", "b_reduction_pct"] == pytest.approx(30.0)


def test_markdown_report_table():
    frame = pd.DataFrame({"a": ["x|y"], "b": [1.234], "c": [np.nan]})
    assert tradeoffs.markdown_table(frame, 2).splitlines() == [
        "| a | b | c |",
        "|---|---|---|",
        "| x\\|y | 1.23 | – |",
    ]

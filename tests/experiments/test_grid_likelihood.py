"""The grid's likelihood measure: every tuned cell scored against its start, each group, each language."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralign_core.experiments import grid_config
from pluralign_core.experiments import state as grid_state
from pluralign_core.experiments.grid_likelihood import (
    TOTAL_COLUMNS,
    likelihood_summary,
    read_totals,
    score_cell,
)
from pluralign_core.experiments.plan import cell_from_state
from tests.factories import tiny_bundle


def _adapter(model_dir, folder, *, seed: int, identity: bool = False):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=identity)
    get_peft_model(model, config).save_pretrained(folder)
    return str(folder)


def test_tuned_cells_are_scored_against_their_start_per_group_and_seed(store, tiny_model_dir, tmp_path):
    store.write_dataset(tiny_bundle(n_prompts=4, responses_per_prompt=3))
    with store.transaction() as con:
        con.execute("UPDATE prompts SET split = 'heldout' WHERE prompt_id IN ('p1', 'p3')")
    config = grid_config.GridConfig(
        optimizers=["dpo"],
        disagreements=["majority"],
        scales=["5-point"],
        objectives=[],
        groups=["women", "men"],
        seeds=[0, 1],
        dataset_id="tiny",
        training={"base_model": str(tiny_model_dir)},
    )
    state = grid_state.create_grid(store, config, "g-likelihood")
    cells = [cell_from_state(state.cells[c]) for c in state.data["cell_order"]]
    base = cells[0]
    assert score_cell(store, state, base) is None  # the instruct start is the reference: no implicit reward
    with pytest.raises(ValueError, match="adapter"):
        score_cell(store, state, cells[1])
    for cell in cells[1:]:
        identity = cell.group == "men"  # a LoRA adapter whose B is zero leaves the model unchanged
        adapter = _adapter(tiny_model_dir, tmp_path / cell.cell_id, seed=cell.seed, identity=identity)
        assert score_cell(store, state, cell, adapter) is not None
        state.update_cell(cell.cell_id, state="done")
    totals = read_totals(state.data, state.folder)
    assert list(totals.columns) == TOTAL_COLUMNS
    assert set(totals.group) == {"all raters", "women", "men"} and set(totals.prompt_id) == {"p1", "p3"}
    summary = likelihood_summary(totals, n_boot=200)
    assert set(summary.design_id) == {"dpo-majority-5-point-multi-all", "dpo-majority-5-point-multi-women",
                                      "dpo-majority-5-point-multi-men"}  # fmt: skip
    assert (summary.n_seeds == 2).all()
    unchanged = summary[summary.design_id.str.endswith("-men")]
    changed = summary[summary.design_id.str.endswith("-women")]
    assert np.allclose(unchanged.margin, 0, atol=1e-9) and not unchanged.resolved.any()
    assert (changed.margin.abs() > 1e-6).all()


def test_summary_pools_seeds_and_resolves_only_a_consistent_shift():
    rng = np.random.default_rng(0)
    rows = []
    for seed in (0, 1, 2):
        for prompt in range(12):
            n = 4
            rows.append(
                ("c", "d", seed, "all raters", "en", f"p{prompt}", n, 3.0, n * (0.5 + rng.normal(0, 0.1)))
            )
            rows.append(
                ("c", "noise", seed, "all raters", "en", f"p{prompt}", n, 2.0, n * rng.normal(0, 0.5))
            )
    summary = likelihood_summary(pd.DataFrame(rows, columns=TOTAL_COLUMNS), n_boot=500).set_index("design_id")
    assert summary.loc["d", "resolved"] and summary.loc["d", "margin_ci_low"] > 0.4
    assert summary.loc["d", "accuracy"] == pytest.approx(0.75) and summary.loc["d", "n_seeds"] == 3
    assert not summary.loc["noise", "resolved"]


def test_a_cell_scored_with_the_evaluations_loaded_model_gives_the_same_totals(
    store, tiny_model_dir, tmp_path, monkeypatch
):
    """The grid loads a tuned cell's model once for generation and likelihood: same totals, no second load."""
    from pluralign_core.evaluation import generation

    store.write_dataset(tiny_bundle(n_prompts=4, responses_per_prompt=3))
    with store.transaction() as con:
        con.execute("UPDATE prompts SET split = 'heldout' WHERE prompt_id IN ('p1', 'p3')")
    config = grid_config.GridConfig(
        optimizers=["dpo"], disagreements=["majority"], scales=["5-point"], objectives=[], groups=[],
        seeds=[0], dataset_id="tiny", training={"base_model": str(tiny_model_dir)},
    )  # fmt: skip
    state = grid_state.create_grid(store, config, "g-loaded")
    cell = cell_from_state(state.cells[state.data["cell_order"][1]])
    adapter = _adapter(tiny_model_dir, tmp_path / "adapter", seed=3)
    path = score_cell(store, state, cell, adapter)
    assert path is not None
    separately = pd.read_csv(path)
    loaded = generation.load_model(str(tiny_model_dir), adapter)

    def no_second_load(*args, **kwargs):
        raise AssertionError("the cell's model was loaded again")

    monkeypatch.setattr(generation, "load_model", no_second_load)
    together = pd.read_csv(score_cell(store, state, cell, adapter, loaded=loaded))
    pd.testing.assert_frame_equal(separately, together, rtol=1e-5)

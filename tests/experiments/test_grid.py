"""The experiment grid: planning and resuming a partial grid."""

from __future__ import annotations

import json

import pytest

from pluralign_core.experiments import execute, grid_config, plan
from pluralign_core.experiments import state as grid_state
from pluralign_core.ratings.schema import STUDY_DIMENSIONS
from tests.factories import tiny_bundle

PLAIN_CELLS = [
    "base",
    "dpo-preserve-5-point-multi-all",
    "dpo-preserve-binary-multi-all",
    "dpo-majority-5-point-multi-all",
    "dpo-majority-binary-multi-all",
    "grpo-mean-5-point-multi-all",
    "dpo-preserve-5-point-single-all",
    "dpo-preserve-5-point-multi-women",
    "dpo-preserve-5-point-multi-men",
    "dpo-preserve-5-point-multi-liberal",
    "dpo-preserve-5-point-multi-conservative",
    "dpo-preserve-5-point-multi-US",
    "dpo-preserve-5-point-multi-DE",
]


def test_plain_plan_covers_every_design_choice():
    config = grid_config.GridConfig()
    cells = plan.plan_cells(config, "ds", [d.name for d in STUDY_DIMENSIONS])
    assert [c.cell_id for c in cells] == PLAIN_CELLS
    by_id = {c.cell_id: c for c in cells}
    assert not by_id["base"].trains and by_id["base"].run == {}
    assert sum(c.trains for c in cells) == 12
    assert by_id["dpo-majority-binary-multi-all"].preference_spec("ds") == {
        "dataset_id": "ds",
        "selection": {"filters": {}},
        "dimensions": [d.name for d in STUDY_DIMENSIONS],
        "scale": "binary",
        "disagreement": "majority",
    }
    assert by_id["dpo-preserve-5-point-single-all"].dimensions == ["toxicity"]
    grpo = by_id["grpo-mean-5-point-multi-all"]
    assert grpo.run["algorithm"] == "grpo"
    assert grpo.run["per_device_train_batch_size"] == config.training.num_generations
    assert by_id["dpo-preserve-5-point-multi-women"].selection == {"filters": {"gender": ["woman"]}}
    assert all(c.run["max_steps"] == config.training.max_steps for c in cells if c.optimizer == "dpo")
    assert all(
        c.evaluation["dataset_id"] == "ds" and c.evaluation["max_prompts"] == config.evaluation.max_prompts
        for c in cells
    )
    assert plan.reward_groups(cells).keys() == {
        "all raters",
        "women",
        "men",
        "liberal",
        "conservative",
        "US",
        "DE",
    }
    full = grid_config.preset("full")
    assert full.training.max_steps > config.training.max_steps and full.evaluation.max_prompts == 0


def test_demo_preset_tunes_the_unaligned_start_on_toxicity_with_three_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("PLURALIGN_HOME", str(tmp_path))
    config = grid_config.preset("demo")
    cells = plan.plan_cells(config, "ds", [d.name for d in STUDY_DIMENSIONS])
    designs = [
        "dpo-preserve-5-point-single-all",
        "dpo-preserve-binary-single-all",
        "dpo-majority-5-point-single-all",
        "dpo-majority-binary-single-all",
        "grpo-mean-5-point-single-all",
    ]
    assert [c.cell_id for c in cells] == ["base"] + [f"{d}-seed{s}" for s in (0, 1, 2) for d in designs]
    start = str(tmp_path / "models" / "unaligned")
    assert cells[0].label.startswith("Unaligned start") and cells[0].evaluation["base_model"].startswith(
        start
    )
    tuned = cells[1:]
    assert {c.design for c in tuned} == set(designs) and {c.seed for c in tuned} == {0, 1, 2}
    assert all(c.run["seed"] == c.seed and c.run["base_model"].startswith(start) for c in tuned)
    assert all(c.dimensions == ["toxicity"] and c.objective == "single" for c in tuned)
    assert all(c.run["lr_scheduler_type"] == "constant_with_warmup" for c in tuned)
    dpo = next(c for c in tuned if c.optimizer == "dpo")
    grpo = next(c for c in tuned if c.optimizer == "grpo")
    # budget-matched: as many steps, and as many answers per step as DPO reads (chosen + rejected)
    assert grpo.run["max_steps"] == dpo.run["max_steps"]
    assert grpo.run["per_device_train_batch_size"] == 2 * dpo.run["per_device_train_batch_size"]
    assert grpo.run["per_device_train_batch_size"] % grpo.run["num_generations"] == 0
    assert config.evaluation.max_prompts == 0  # every held-out prompt, both languages
    reference = plan.plan_cells(grid_config.preset("reference"), "ds", [d.name for d in STUDY_DIMENSIONS])
    assert {c.seed for c in reference} == {0, 1, 2, 3, 4}
    assert {c.family for c in reference} == {"base", "design", "objective", "group"}
    assert "dpo-preserve-5-point-multi-all-seed4" in [c.cell_id for c in reference]


def test_plan_follows_the_configuration_and_drops_absent_groups():
    config = grid_config.GridConfig(
        optimizers=["dpo"],
        disagreements=["preserve"],
        scales=["5-point", "binary"],
        objectives=["multi"],
        groups=["women", "liberal", "US"],
    )
    present = {("gender", "woman"), ("political_leaning", "left"), ("country", "DE")}
    cells = plan.plan_cells(config, "ds", ["toxicity", "helpfulness"], present)
    assert [c.cell_id for c in cells] == [
        "base",
        "dpo-preserve-5-point-multi-all",
        "dpo-preserve-binary-multi-all",
        "dpo-preserve-5-point-multi-women",
        "dpo-preserve-5-point-multi-liberal",
    ]
    liberal = cells[-1]
    assert liberal.selection == {"filters": {"political_leaning": ["left"]}}  # only values present
    with pytest.raises(ValueError, match="groups"):
        grid_config.GridConfig(groups=["martians"])
    with pytest.raises(ValueError, match="preset"):
        grid_config.preset("gpu")
    with pytest.raises(ValueError, match="single_dimension"):
        plan.plan_cells(grid_config.GridConfig(single_dimension="humour"), "ds", ["toxicity"])


class _Interrupt(BaseException):
    """Stands in for the process being stopped (Ctrl-C, the app's stop button)."""


def test_partial_grid_resumes_without_redoing_finished_cells(store):
    store.write_dataset(tiny_bundle())
    config = grid_config.GridConfig(
        optimizers=["dpo"],
        disagreements=["preserve", "majority"],
        scales=["5-point"],
        objectives=["multi"],
        groups=["women", "men"],
        dataset_id="tiny",
    )
    calls: list[str] = []

    def interrupted(store, cell, state, progress):
        if len(calls) == 2:
            raise _Interrupt
        calls.append(cell.cell_id)
        progress(0.5, "half")
        return {"evaluation_id": f"eval-{cell.cell_id}"}

    with pytest.raises(_Interrupt):
        execute.run_grid(store, config, grid_id="g1", executor=interrupted, prepare=lambda s, g: None)
    saved = json.loads((grid_state.grid_folder("g1") / grid_state.GRID_FILE).read_text())
    assert saved["state"] == "interrupted"
    order = saved["cell_order"]
    assert [saved["cells"][c]["state"] for c in order] == ["done", "done", "pending", "pending", "pending"]
    assert store.artifact("g1")["status"] == "interrupted"

    resumed: list[str] = []

    def flaky(store, cell, state, progress):
        resumed.append(cell.cell_id)
        if cell.group == "men":
            raise RuntimeError("out of memory")
        return {"evaluation_id": f"eval-{cell.cell_id}"}

    state = execute.run_grid(store, grid_id="g1", resume=True, executor=flaky, prepare=lambda s, g: None)
    assert resumed == order[2:]
    assert state.data["state"] == "partial"
    assert state.cells["dpo-preserve-5-point-multi-men"]["state"] == "failed"
    assert "out of memory" in state.cells["dpo-preserve-5-point-multi-men"]["error"]
    assert state.cells["base"]["evaluation_id"] == "eval-base"

    again: list[str] = []
    state = execute.run_grid(
        store,
        grid_id="g1",
        resume=True,
        executor=lambda s, c, g, p: again.append(c.cell_id) or {},
        prepare=lambda s, g: None,
    )
    assert again == ["dpo-preserve-5-point-multi-men"]
    assert state.data["state"] == "completed"
    assert store.artifact("g1")["metrics"]["done"] == len(order)
    assert [g.grid_id for g in grid_state.list_grids()] == ["g1"]
    with pytest.raises(ValueError, match="exists already"):
        grid_state.create_grid(store, config, "g1")


def test_cli_dry_run_prints_the_plan_and_list_shows_grids(store, capsys):
    from pluralign_core import cli

    store.write_dataset(tiny_bundle())
    assert cli.main(["grid", "--preset", "demo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dataset tiny" in out and "dpo-majority-binary-single-all-seed2" in out
    assert cli.main(["grid", "--preset", "reference", "--groups", "women,men", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dpo-preserve-5-point-single-women-seed4" in out and "liberal" not in out
    assert cli.main(["grid", "--list"]) == 0
    assert "No grids yet" in capsys.readouterr().out


def test_cli_preview_counts_exactly_the_cells_the_grid_creates(store, capsys):
    from pluralign_core import cli

    store.write_dataset(tiny_bundle())
    assert cli.main(["grid", "--preset", "reference", "--groups", "women", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    previewed = [line.split()[0] for line in lines[2:]]
    created = grid_state.create_grid(store, grid_config.preset("reference", groups=["women"]), "g-preview")
    assert previewed == created.data["cell_order"]
    assert "dpo-preserve-5-point-single-women-seed0" in previewed
    assert lines[0].endswith(f"{len(previewed)} cells, {len(previewed) - 1} training runs")


def test_grid_refuses_absent_groups_and_data_without_heldout_prompts_before_training(store, capsys):
    """tiny has no political leaning; a grid naming liberal is refused with the groups it could use."""
    from pluralign_core import cli

    store.write_dataset(tiny_bundle())
    with pytest.raises(ValueError, match=r"no raters of group\(s\) \['liberal'\].*--groups women,men"):
        grid_state.create_grid(store, grid_config.preset("demo", groups=["women", "liberal", "men"]), "g-x")
    assert not (grid_state.grid_folder("g-x") / grid_state.GRID_FILE).exists()
    assert cli.main(["grid", "--preset", "demo", "--groups", "liberal", "--dry-run"]) != 0
    assert "liberal" in capsys.readouterr().err
    with store.transaction() as con:
        con.execute("UPDATE prompts SET split = 'train' WHERE dataset_id = 'tiny'")
    with pytest.raises(ValueError, match="no held-out prompts"):
        grid_state.create_grid(store, grid_config.preset("demo"), "g-y")


def test_a_cell_trains_in_the_grid_process_and_resumes_its_run(store, tiny_model_dir, monkeypatch):
    """A cell's run is trained here (its status names this process), registered, and not redone."""
    import os

    from pluralign_core.training import run as training_run
    from pluralign_core.training.jobs import JobQueue
    from pluralign_core.training.queue import read_status, write_status

    store.write_dataset(tiny_bundle())
    config = grid_config.preset(
        "demo",
        start="instruct",
        seeds=[0],
        training={"base_model": str(tiny_model_dir), "max_steps": 2, "per_device_train_batch_size": 2},
    )
    state = grid_state.create_grid(store, config, "g-inproc")
    cell = plan.cell_from_state(state.cells["dpo-preserve-5-point-single-all"])
    messages: list[str] = []
    adapter_id, run_id = execute.train_cell(store, cell, state, lambda f, m: messages.append(m))
    run_dir = JobQueue().root / run_id
    status = read_status(run_dir)
    assert status["state"] == "completed" and status["pid"] == os.getpid()
    assert any("step 2/2" in m for m in messages)
    assert store.artifact(adapter_id)["kind"] == "adapter"
    assert state.cells[cell.cell_id]["run_id"] == run_id

    trained: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(training_run, "run_training", lambda *a, **k: trained.append("again") or {})
        assert execute.train_cell(store, cell, state, lambda f, m: None) == (adapter_id, run_id)
    assert trained == []  # a completed run is registered, never trained twice

    write_status(run_dir, state="interrupted")
    resumed = execute.train_cell(store, cell, state, lambda f, m: None)
    assert resumed == (adapter_id, run_id)
    assert JobQueue().config(run_id).resume_from_checkpoint.endswith("checkpoint-2")
    assert read_status(run_dir)["state"] == "completed"

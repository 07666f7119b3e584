"""``pluralign demo`` on a tiny dataset and model: real DPO adapters, resume after an interruption, loading.

The unaligned start (an SFT run plus a rudeness check that a random tiny model cannot pass) is stubbed by
the tiny model itself; preference sets, DPO training, registration, reward models and the likelihood matrix
run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pluralign_core.chat.pool import ChatModelPool, available_models
from pluralign_core.experiments import demo, demo_process
from pluralign_core.ratings.schema import Attribute
from pluralign_core.store.database import Store
from pluralign_core.training.in_process import prepare_run, train_in_process
from pluralign_core.training.queue import read_status
from tests.factories import tiny_bundle


def leaning_bundle():
    """tiny_bundle with a political leaning per rater: half liberal, half conservative."""
    bundle = tiny_bundle("leaning", n_raters=16, n_prompts=5, responses_per_prompt=3, seed=3)
    leaning = [
        (rater, "political_leaning", ["liberal", "very liberal", "conservative", "very conservative"][i % 4])
        for i, rater in enumerate(bundle.raters.rater_id)
    ]
    bundle.rater_attributes = pd.concat(
        [bundle.rater_attributes, pd.DataFrame(leaning, columns=["rater_id", "attribute", "value"])]
    )
    bundle.attributes.append(
        Attribute(
            "political_leaning",
            "Political leaning",
            True,
            False,
            ("very liberal", "liberal", "conservative", "very conservative"),
        )
    )
    bundle.prompts["split"] = ["train", "train", "train", "heldout", "heldout"]
    return bundle


@pytest.fixture
def demo_store(store: Store) -> Store:
    store.write_dataset(leaning_bundle())
    return store


def tiny_config(model_dir: Path) -> demo.DemoConfig:
    return demo.DemoConfig(
        dataset_id="leaning",
        base_model=str(model_dir),
        max_steps=2,
        batch_size=2,
        warmup_steps=1,
        lora_r=4,
        max_length=64,
        max_prompt_length=32,
    )


class Calls:
    """Real steps wrapped to count calls (and to interrupt one training once)."""

    def __init__(self, model_dir: Path, interrupt_group: str | None = None) -> None:
        self.model_dir, self.interrupt_group = model_dir, interrupt_group
        self.starts: list[str] = []
        self.trained: list[str] = []

    def build_start(self, store, config, progress):
        self.starts.append(config.dataset_id)
        progress(1.0, "stub start")
        return self.model_dir

    def train(self, run_dir: Path, progress):
        if self.interrupt_group and self.interrupt_group in run_dir.name:
            self.interrupt_group = None
            raise KeyboardInterrupt("closed terminal")
        self.trained.append(run_dir.name)
        return train_in_process(run_dir, progress)

    def steps(self) -> demo.DemoSteps:
        return demo.DemoSteps(build_start=self.build_start, train=self.train)


def test_demo_builds_registered_adapters_that_load_and_a_matrix(demo_store, tiny_model_dir) -> None:
    config = tiny_config(tiny_model_dir)
    calls = Calls(tiny_model_dir)
    seen: list[float] = []
    state = demo.run_demo(demo_store, config, lambda f, m: seen.append(f), calls.steps())

    assert state["state"] == "completed" and seen[-1] == 1.0 and seen == sorted(seen)
    folder = demo.demo_folder(config)
    assert json.loads((folder / demo.STATE_FILE).read_text())["state"] == "completed"
    adapters = state["steps"]["adapters"]
    assert set(adapters) == {"liberal", "conservative"}
    registered = demo_store.artifacts("adapter").set_index("artifact_id")
    for group, adapter in adapters.items():
        row = registered.loc[adapter["artifact_id"]]
        assert row["name"] == demo.adapter_label(group)
        assert row.config["base_model"] == str(tiny_model_dir)
        assert read_status(Path(adapter["path"]).parent)["metrics"]
    assert len(demo_store.artifacts("reward_model", "leaning")) == 2 * 2  # 2 groups x 2 dimensions

    specs = {s.key: s for s in available_models(demo_store)}
    pool = ChatModelPool()
    for key in (a["artifact_id"] for a in adapters.values()):
        pool.add(specs[key])
        assert specs[key].base_ref == str(tiny_model_dir)
        assert pool.reply(key, [{"role": "user", "content": "Why are people rude?"}]) is not None

    matrix = json.loads((folder / demo.MATRIX_JSON).read_text())
    cells = pd.read_csv(folder / demo.MATRIX_CSV)
    assert set(cells.model) == {"unaligned start", "liberal-tuned", "conservative-tuned"}
    assert set(cells.group) == {"liberal", "conservative"} and set(cells.language) == {"en"}
    # the start is scored against its base (the same tiny model here): no preference at all
    start = cells[cells.model == "unaligned start"]
    assert (start.margin == 0).all() and (start.accuracy == 0.5).all()
    # the tuned adapters moved away from the start
    assert (cells[cells.model != "unaligned start"].margin != 0).any()
    assert len(matrix["diagonals"]) == 2

    found = demo_process.demo_chat_models("leaning")
    assert found is not None and found.start_dir == str(tiny_model_dir)
    assert set(found.adapters) == {a["artifact_id"] for a in adapters.values()}
    assert "liberal raters' toxicity preferences" in found.adapters[adapters["liberal"]["artifact_id"]]


def test_interrupted_demo_resumes_without_redoing_finished_steps(demo_store, tiny_model_dir) -> None:
    config = tiny_config(tiny_model_dir)
    calls = Calls(tiny_model_dir, interrupt_group="conservative")
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(demo_store, config, None, calls.steps())
    state = demo.read_state(demo.demo_folder(config))
    assert state["state"] == "interrupted" and "closed terminal" in state["error"]
    assert list(state["steps"]["adapters"]) == ["liberal"]
    assert calls.starts == ["leaning"] and len(calls.trained) == 1

    state = demo.run_demo(demo_store, config, None, calls.steps())
    assert state["state"] == "completed"
    assert calls.starts == ["leaning"]  # the start was not rebuilt
    assert len(calls.trained) == 2 and "conservative" in calls.trained[1]  # liberal was not retrained

    again = demo.run_demo(demo_store, config, None, calls.steps())
    assert again["state"] == "completed" and len(calls.trained) == 2


def test_an_interrupted_training_resumes_from_its_last_checkpoint(tmp_path, tiny_model_dir) -> None:
    config = tiny_config(tiny_model_dir)
    pairs = tmp_path / "pairs"
    run_config = demo.run_config(config, "liberal", tiny_model_dir, pairs, steps=6)
    run_dir, completed = prepare_run(tmp_path / "runs", "demo-run", run_config)
    assert not completed and not run_config.resume_from_checkpoint
    checkpoint = run_dir / "checkpoints" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    again = demo.run_config(config, "liberal", tiny_model_dir, pairs, steps=6)
    same_dir, completed = prepare_run(tmp_path / "runs", "demo-run", again)
    assert same_dir == run_dir and not completed
    assert again.resume_from_checkpoint == str(checkpoint)
    assert "checkpoint-4" in (run_dir / "config.yaml").read_text()


def test_one_pass_over_the_pairs_capped_and_labels() -> None:
    config = demo.DemoConfig(dataset_id="x", max_steps=24, batch_size=8)
    assert demo.dpo_steps(config, 100) == 13
    assert demo.dpo_steps(config, 1000) == 24
    assert demo.adapter_label("liberal") == (
        "tuned on liberal raters' toxicity preferences (from the unaligned start)"
    )
    with pytest.raises(ValueError, match="at least two of"):
        demo.DemoConfig(groups=["liberal", "nobody"])


def test_a_dataset_without_the_groups_is_refused_before_training(store, tiny_model_dir) -> None:
    store.write_dataset(tiny_bundle("plain"))  # no political leaning
    calls = Calls(tiny_model_dir)
    config = demo.DemoConfig(dataset_id="plain", base_model=str(tiny_model_dir))
    with pytest.raises(demo.DemoError, match="has no liberal raters"):
        demo.run_demo(store, config, None, calls.steps())
    assert calls.starts == [] and calls.trained == []


def test_launch_runs_the_cli_in_the_background(pluralign_home, monkeypatch) -> None:
    launched = {}

    class Process:
        pid = 4242

    def fake_launch(command, log_file, env=None):
        launched.update(command=command, log=log_file)
        return Process()

    monkeypatch.setattr(demo_process.launcher, "launch", fake_launch)
    folder, pid = demo_process.launch_demo("default-simulated")
    assert pid == 4242
    assert launched["command"][-4:] == ["pluralign_core.cli", "demo", "--dataset-id", "default-simulated"]
    status = demo_process.demo_status("default-simulated")
    assert status["state"] == "planned" and status["running"]  # within the start-up grace
    assert folder == demo.demo_folder(demo.DemoConfig(dataset_id="default-simulated"))


def test_the_start_s_sft_steps_move_the_progress_bar(pluralign_home, tiny_model_dir) -> None:
    import time

    from pluralign_core.experiments.unaligned_start import start_folder
    from pluralign_core.training.callbacks import LOG_FILE

    config = tiny_config(tiny_model_dir)

    def slow_start(store, start_config, progress):
        log = start_folder(start_config) / "run" / LOG_FILE
        log.parent.mkdir(parents=True)
        log.write_text(json.dumps({"event": "log", "step": 20, "max_steps": 50}) + "\n")
        time.sleep(3.5)
        return tiny_model_dir

    seen: list[tuple[float, str]] = []
    steps = demo.DemoSteps(build_start=slow_start)
    demo._build_start_watched(steps, None, config.start_config(), lambda f, m: seen.append((f, m)))
    assert (pytest.approx(0.05 + 0.7 * 20 / 50), "SFT step 20/50") in seen


def test_a_group_s_pairs_are_sampled_to_what_its_run_reads(demo_store, tiny_model_dir, tmp_path) -> None:
    """The demo's run reads max_steps × batch pairs; no more are exported (nor reference-scored)."""
    config = tiny_config(tiny_model_dir)
    folder, n_pairs = demo.preference_set(demo_store, config, "liberal", tmp_path / "liberal")
    assert 0 < n_pairs <= config.max_steps * config.batch_size
    assert len(pd.read_parquet(folder / "pairs.parquet")) == n_pairs

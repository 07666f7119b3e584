"""The same training process runs data-parallel under ``accelerate launch`` (2 CPU processes).

accelerate 1.15's ``--cpu`` flag sends every launch to its single-process launcher (``--num_processes`` is
then ignored unless an MPI hostfile is given), so two CPU processes are started the way a GPU user would
start two: ``--multi_gpu --num_processes 2`` (torchrun), with no GPU visible, which makes the processes
use the gloo backend on CPU. The world size the trainer saw is checked, so a silent one-process run fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.training_data import make_preference_set, tiny_run_config

pytest.importorskip("accelerate")


def test_two_process_accelerate_run_completes(tiny_model_dir, tmp_path):
    prefs = make_preference_set(tmp_path / "prefs")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tiny_run_config(tiny_model_dir, preference_set=str(prefs), per_device_train_batch_size=1).to_yaml(
        run_dir / "config.yaml"
    )
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    command = [
        launcher,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "pluralign_core.training.run",
        str(run_dir),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.getcwd(),
        "CUDA_VISIBLE_DEVICES": "",
    }
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "completed"
    events = [json.loads(line) for line in (run_dir / "trainer_log.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "start" for e in events) == 1  # only the main process reports progress
    logs = [e for e in events if e["event"] == "log" and "loss" in e]
    assert [e["step"] for e in logs] == [1, 2]
    assert status["facts"]["world_size"] == 2  # both processes trained the one run data-parallel
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()

"""``pluralign demo [--dataset ID]``: build the models Chat opens with (resumable; the Home page runs it).

See :mod:`pluralign_core.experiments.demo` for what is built and why. Rerunning after an interruption (a
closed terminal, the app's Stop, a reboot) continues where the last run stopped.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

HELP = (
    "Build the demo models on the active dataset: the unaligned teaching start, two group-aligned DPO "
    "adapters (liberal vs conservative raters' toxicity preferences), the group reward models and their "
    "likelihood matrix. Resumes an interrupted build."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pluralign_core.experiments.demo import DemoConfig

    parser.add_argument("--config", default=None, help="a demo config YAML (flags override its values)")
    parser.add_argument("--dataset", dest="dataset_id", default=None, help="alias of --dataset-id")
    DemoConfig.add_flags(parser)
    parser.add_argument(
        "--bundle-start",
        action="store_true",
        help="only build the unaligned start (training it, never from a shipped adapter) and write its SFT "
        "adapter to data/unaligned_start/, which later builds with the same config and data then reuse",
    )


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM becomes SystemExit, so demo.json records ``interrupted`` before the process exits."""
    raise SystemExit(f"stopped by signal {signum}")


def run(args: argparse.Namespace) -> int:
    from pluralign_core.experiments.demo import DemoConfig, DemoError, demo_folder, run_demo
    from pluralign_core.experiments.unaligned_start import UnalignedStartError
    from pluralign_core.store.database import Store

    config = DemoConfig.from_flags(args, args.config)
    store = Store()
    if not config.dataset_id:
        from pluralign_core.store.bootstrap import ensure_default_dataset

        ensure_default_dataset(store)
        config.dataset_id = store.active_dataset() or ""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    started = time.time()

    def show(fraction: float, message: str) -> None:
        print(f"[{time.time() - started:6.0f}s {fraction:6.1%}] {message}", flush=True)

    if getattr(args, "bundle_start", False):
        return _bundle_start(store, config, show)
    print(f"building the demo in {demo_folder(config)}", flush=True)
    try:
        state = run_demo(store, config, show)
    except (DemoError, UnalignedStartError) as error:
        print(f"pluralign demo: {error}; rerun `pluralign demo` to continue", file=sys.stderr)
        return 1
    print(f"demo {state['state']} in {time.time() - started:.0f}s")
    diagonals = json.loads((demo_folder(config) / "alignment_matrix.json").read_text("utf-8"))["diagonals"]
    for name, diff in diagonals.items():
        verdict = "resolved" if diff["resolved"] else "not resolved"
        print(
            f"  {name}: margin difference {diff['difference']:+.3f} "
            f"[{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}] {verdict}"
        )
    return 0


def _bundle_start(store: Any, config: Any, show: Any) -> int:
    """``--bundle-start``: train the start here and ship its adapter under ``data/unaligned_start/``."""
    from pluralign_core.experiments import start_bundle
    from pluralign_core.experiments.unaligned_start import (
        UnalignedStartError,
        build_unaligned_start,
        sft_examples,
        start_folder,
    )

    start = config.start_config()
    try:
        build_unaligned_start(store, start, show, bundle_root=None)
    except UnalignedStartError as error:
        print(f"pluralign demo --bundle-start: {error}", file=sys.stderr)
        return 1
    digest = start_bundle.examples_digest(sft_examples(store, start))
    root = start_bundle.bundle_start(start_folder(start), start.fingerprint(), digest)
    print(f"shipped the unaligned start's SFT adapter in {root} (config {start.fingerprint()})")
    return 0

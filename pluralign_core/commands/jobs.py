"""``pluralign jobs list|cancel ID|resume ID|logs ID|start [--kind ...]``: the job queues, headless.

Training runs and queued evaluations are both folders run by their own process through the same queue
code; ``--kind`` picks which queue (the Train page's or the Evaluate page's).
"""

from __future__ import annotations

import argparse
import contextlib

HELP = "List, cancel, resume or show logs of training runs or queued evaluations (--kind evaluate)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("list", "cancel", "resume", "logs", "start"),
        help="list jobs; cancel/resume/logs one job (resume runs an evaluation again); start queued jobs",
    )
    parser.add_argument("run_id", nargs="?", help="run or evaluation id (from `pluralign jobs list`)")
    parser.add_argument("--kind", choices=("train", "evaluate"), default="train", help="which queue")
    parser.add_argument("--lines", type=int, default=40, help="log lines to show (logs)")


def run(args: argparse.Namespace) -> int:
    if args.action in ("cancel", "resume", "logs") and not args.run_id:
        raise ValueError(f"jobs {args.action} needs an id: see `pluralign jobs list --kind {args.kind}`")
    return _evaluations(args) if args.kind == "evaluate" else _training(args)


def _training(args: argparse.Namespace) -> int:
    from pluralign_core.training.jobs import JobQueue

    queue = JobQueue()
    if args.action == "list":
        _register(queue)
        table = queue.runs()
        columns = ["run_id", "algorithm", "state", "step", "max_steps", "loss", "eta_s", "error"]
        print(table[columns].to_string(index=False) if not table.empty else "No training runs yet.")
    elif args.action == "cancel":
        print(f"{args.run_id}: {queue.cancel(args.run_id)['state']}")
    elif args.action == "resume":
        checkpoint = queue.resume(args.run_id)
        started = queue.poll()
        print(
            f"{args.run_id}: queued from {checkpoint.name}" + (" (started)" if args.run_id in started else "")
        )
    elif args.action == "logs":
        progress = queue.progress(args.run_id)
        status = queue.status(args.run_id)
        print(
            f"state {status.get('state')}  step {progress.get('step')}/{progress.get('max_steps')}  "
            f"loss {progress.get('loss')}"
        )
        print(queue.log_tail(args.run_id, args.lines))
    elif args.action == "start":
        print("started: " + (", ".join(queue.poll()) or "nothing (queue empty or full)"))
    return 0


def _evaluations(args: argparse.Namespace) -> int:
    from pluralign_core.evaluation.jobs import EvaluationQueue

    queue = EvaluationQueue()
    if args.action == "list":
        table = queue.jobs()
        print(table.to_string(index=False) if not table.empty else "No queued evaluations yet.")
    elif args.action == "cancel":
        print(f"{args.run_id}: {queue.cancel(args.run_id)['state']}")
    elif args.action == "resume":
        queue.retry(args.run_id)
        started = queue.poll()
        print(f"{args.run_id}: queued again" + (" (started)" if args.run_id in started else ""))
    elif args.action == "logs":
        progress = queue.progress(args.run_id)
        state = queue.status(args.run_id).get("state")
        print(f"state {state}  {progress['fraction']:.0%} {progress['message']}")
        print(queue.log_tail(args.run_id, args.lines))
    elif args.action == "start":
        print("started: " + (", ".join(queue.poll()) or "nothing (queue empty or full)"))
    return 0


def _register(queue) -> None:
    from pluralign_core.store.database import Store

    with contextlib.suppress(Exception):  # a busy store only delays registration
        queue.register_finished(Store())

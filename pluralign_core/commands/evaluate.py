"""``pluralign evaluate --model ID|base``: answer the held-out prompts and score the answers.

It runs in the foreground by default, through the same function as the evaluation process the Evaluate
page queues (:func:`~pluralign_core.evaluation.worker.run_evaluation`), and shows up in
``pluralign jobs list --kind evaluate``; ``--submit`` queues it as a background process instead.
"""

from __future__ import annotations

import argparse
import sys

from pluralign_core.commands.json_output import add_json_flag, emit, note, records

HELP = (
    "Evaluate the base model or a trained adapter on the held-out prompts: toxicity classifier and group "
    "reward-model scores with bootstrap CIs, stored under <home>/evaluations/ (--list shows stored ones)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="base", help="adapter artifact id, or 'base' (default)")
    parser.add_argument("--dataset", default="", help="dataset id (default: the active dataset)")
    parser.add_argument("--base-model", default="", help="base model reference (default: the adapter's own)")
    parser.add_argument("--languages", default="en,de", help="comma-separated prompt languages")
    parser.add_argument("--max-prompts", type=int, default=0, help="prompts per language (0 = all held-out)")
    parser.add_argument("--max-new-tokens", type=int, default=96, help="answer length in tokens")
    parser.add_argument("--seed", type=int, default=0, help="decoding and bootstrap seed")
    parser.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument(
        "--compare",
        default="",
        metavar="EVALUATION_ID",
        help="print the relative change against this (e.g. the base model's) evaluation",
    )
    parser.add_argument("--list", action="store_true", help="list stored evaluations")
    parser.add_argument(
        "--submit", action="store_true", help="queue it as a background process instead of waiting for it"
    )
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    from pluralign_core.evaluation import results
    from pluralign_core.evaluation.config import ALL_LANGUAGES, EvaluationConfig
    from pluralign_core.evaluation.evaluate import check_evaluation
    from pluralign_core.evaluation.jobs import EvaluationQueue
    from pluralign_core.evaluation.worker import run_evaluation
    from pluralign_core.store.database import Store

    store = Store()
    if args.list:
        rows = results.evaluations(store, args.dataset or None)
        if args.json:
            emit(
                [
                    {
                        "evaluation_id": row.artifact_id,
                        "name": row.name,
                        "model_id": (row.config or {}).get("model_id"),
                        "dataset_id": row.dataset_id,
                    }
                    for row in rows.itertuples()
                ]
            )
            return 0
        if rows.empty:
            print("No evaluations yet: run `pluralign evaluate --model base`.")
        for row in rows.itertuples():
            print(
                f"{row.artifact_id}: {row.name} "
                f"(model {row.config.get('model_id')}, dataset {row.dataset_id})"
            )
        return 0
    dataset_id = args.dataset or store.active_dataset()
    if not dataset_id:
        raise ValueError("the store has no dataset: run `pluralign init` or import data first")
    config = EvaluationConfig(
        dataset_id=dataset_id,
        model_id=args.model,
        base_model=args.base_model,
        languages=args.languages,
        max_prompts=args.max_prompts,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        greedy=not args.sample,
    )
    check_evaluation(store, config)
    queue = EvaluationQueue()
    if args.submit:
        evaluation_id = queue.submit(config)
        started = queue.poll()
        if args.json:
            emit({"evaluation_id": evaluation_id, "queued": True, "started": evaluation_id in started})
            return 0
        print(f"queued {evaluation_id}" + (" (started)" if evaluation_id in started else ""))
        print(f"follow it with: pluralign jobs logs {evaluation_id} --kind evaluate")
        return 0
    evaluation_id = queue.submit(config, foreground=True)
    status = run_evaluation(queue.root / evaluation_id, store, progress=lambda f, m: note(f"[{f:6.1%}] {m}"))
    if status["state"] != "completed":
        print(f"evaluation {evaluation_id} {status['state']}: {status.get('error') or ''}", file=sys.stderr)
        return 1
    result = results.load_result(queue.root / evaluation_id)
    pooled = result.summary[result.summary.language == ALL_LANGUAGES]
    change = None
    if args.compare:
        change = results.relative_change(result, results.load_evaluation(store, args.compare))
        change = change[change.language == ALL_LANGUAGES]
    if args.json:
        emit(
            {
                "evaluation_id": result.evaluation_id,
                "path": str(result.path),
                "config": config.to_dict(),
                "summary": records(result.summary),
                "comparison": None if change is None else records(change),
                "compared_with": args.compare or None,
            }
        )
        return 0
    print(f"evaluation {result.evaluation_id} stored in {result.path}")
    print(
        pooled[["group", "dimension", "mean", "ci_low", "ci_high", "n"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"
        )
    )
    if change is not None:
        print(
            change[["group", "dimension", "mean", "base_mean", "improvement_pct"]].to_string(
                index=False, float_format=lambda v: f"{v:.2f}"
            )
        )
    return 0

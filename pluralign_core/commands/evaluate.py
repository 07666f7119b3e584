"""``pluralign evaluate --model ID|base``: answer the held-out prompts and score the answers."""

from __future__ import annotations

import argparse

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


def run(args: argparse.Namespace) -> int:
    from pluralign_core.evaluation import evaluate as evaluation
    from pluralign_core.store.database import Store

    store = Store()
    if args.list:
        rows = evaluation.evaluations(store, args.dataset or None)
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
    config = evaluation.EvaluationConfig(
        dataset_id=dataset_id,
        model_id=args.model,
        base_model=args.base_model,
        languages=args.languages,
        max_prompts=args.max_prompts,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        greedy=not args.sample,
    )
    result = evaluation.evaluate_model(
        store, config, progress=lambda f, m: print(f"[{f:6.1%}] {m}", flush=True)
    )
    pooled = result.summary[result.summary.language == evaluation.ALL_LANGUAGES]
    print(f"evaluation {result.evaluation_id} stored in {result.path}")
    print(
        pooled[["group", "dimension", "mean", "ci_low", "ci_high", "n"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"
        )
    )
    if args.compare:
        change = evaluation.relative_change(result, evaluation.load_evaluation(store, args.compare))
        change = change[change.language == evaluation.ALL_LANGUAGES]
        print(
            change[["group", "dimension", "mean", "base_mean", "improvement_pct"]].to_string(
                index=False, float_format=lambda v: f"{v:.2f}"
            )
        )
    return 0

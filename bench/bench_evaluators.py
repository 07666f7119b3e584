"""Which evaluator can see the change? TF-IDF vs hidden-state group reward models, and the classifier.

On the default simulated dataset in a temporary ``PLURALIGN_HOME`` (or ``--home`` to reuse its feature
cache), trains the all-raters toxicity reward model with each feature kind and prints every evaluator's
card: pairwise accuracy on the held-out prompts' reference answers (hostile/stereotyped vs
neutral/empathetic) per language, and the scores of deliberately degenerate answers. The hidden-state
features need one forward pass of the embedded SmolLM2 per (prompt, answer); the first run on a 2-core
machine takes several minutes, later runs read the cache. Run: ``python -m bench.bench_evaluators``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.results import Figure, emit, machine_line

BENCH = "evaluators"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="PLURALIGN_HOME to use (default: a fresh temporary folder)")
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="pluralign-bench-evaluators-")
    os.environ["PLURALIGN_HOME"] = str(Path(home).resolve())

    from pluralign_core.evaluation.validation import classifier_card
    from pluralign_core.rewards.config import RewardModelConfig
    from pluralign_core.rewards.training import train_reward_model
    from pluralign_core.rewards.validation import DEGENERATE_KINDS, load_card
    from pluralign_core.store.bootstrap import DEFAULT_DATASET_ID, ensure_default_dataset
    from pluralign_core.store.database import Store

    print(machine_line())
    store = Store()
    ensure_default_dataset(store)
    cards = {"classifier": classifier_card(store, DEFAULT_DATASET_ID)}
    seconds = {}
    for features in ("tfidf", "hidden_states"):
        started = time.perf_counter()
        config = RewardModelConfig(DEFAULT_DATASET_ID, "toxicity", features=features)
        model = train_reward_model(store, config, name=f"all raters · toxicity · {features}")
        seconds[features] = time.perf_counter() - started
        cards[features] = load_card(model.path)
        print(
            f"trained {features}: {seconds[features]:.1f} s (held-out rating pairs: "
            f"{model.metrics['pairwise_accuracy']:.3f})"
        )

    print("\nreference pairs on held-out prompts (problematic vs acceptable), per language")
    print(f"  {'evaluator':<14} {'lang':<5} {'accuracy':>8} {'pairs':>6} {'mean bad':>9} {'mean good':>10}")
    for name, card in cards.items():
        for language, entry in card["languages"].items():
            print(
                f"  {name:<14} {language:<5} {entry['pairwise_accuracy']:8.3f} {entry['n_pairs']:6d} "
                f"{entry['mean_score_bad']:9.3f} {entry['mean_score_good']:10.3f}"
            )
            emit(
                Figure(
                    BENCH,
                    f"{name} pairwise accuracy {language}",
                    round(entry["pairwise_accuracy"], 4),
                    "share",
                    baseline_name="tfidf" if name == "hidden_states" else "",
                    baseline_value=(
                        cards["tfidf"]["languages"][language]["pairwise_accuracy"]
                        if name == "hidden_states"
                        else None
                    ),
                )
            )
    print("\ndegenerate answers: mean score | share scored better than problematic | than acceptable answers")
    for name, card in cards.items():
        for language, entry in card["languages"].items():
            cells = []
            for kind in DEGENERATE_KINDS:
                values = entry["degenerate"].get(kind)
                if values:
                    cells.append(
                        f"{kind} {values['mean_score']:.2f}|{values['better_than_bad']:.2f}|"
                        f"{values['better_than_good']:.2f}"
                    )
            print(f"  {name:<14} {language:<5} " + "  ".join(cells))
    for features, value in seconds.items():
        emit(Figure(BENCH, f"train {features} toxicity model", round(value, 1), "s"))


if __name__ == "__main__":
    main()

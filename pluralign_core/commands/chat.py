"""``pluralign chat``: send one prompt to several models (base and adapters) and print their replies."""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import textwrap

from pluralign_core.chat.pool import (
    BASE_KEY,
    ChatModelPool,
    GenerationSettings,
    available_models,
    check_input,
    default_base_ref,
    rate_reply,
)
from pluralign_core.store.database import Store

HELP = (
    "Chat with the base model and registered adapters side by side, e.g. "
    'pluralign chat --model base --model ADAPTER_ID "Why are people rude?"'
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="?", help="the message to send (omit with --list)")
    parser.add_argument(
        "--model",
        action="append",
        metavar="KEY",
        help=f"'{BASE_KEY}' or an adapter artifact id (repeat for 2-4 models; default: base)",
    )
    parser.add_argument("--list", action="store_true", help="list the models you can chat with")
    parser.add_argument("--base", help="base model reference (default: $PLURALIGN_BASE_MODEL or embedded)")
    parser.add_argument("--system", default="", help="system prompt")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ratings",
        action="store_true",
        help="also print each group's predicted ratings (group reward models of the active dataset)",
    )


def side_by_side(columns: dict[str, str], width: int) -> str:
    """Wrap each reply into its own column of text."""
    column_width = max(20, (width - 3 * (len(columns) - 1)) // max(len(columns), 1))
    wrapped = [
        [title[:column_width], "-" * column_width]
        + [
            line
            for paragraph in text.splitlines() or [""]
            for line in textwrap.wrap(paragraph, column_width) or [""]
        ]
        for title, text in columns.items()
    ]
    rows = itertools.zip_longest(*wrapped, fillvalue="")
    return "\n".join(" | ".join(cell.ljust(column_width) for cell in row).rstrip() for row in rows)


def run(args: argparse.Namespace) -> int:
    store = Store()
    specs = {s.key: s for s in available_models(store, args.base or default_base_ref())}
    if args.list:
        for spec in specs.values():
            print(f"{spec.key:<28} {spec.label}")
        return 0
    if not args.prompt:
        raise ValueError('give a prompt to send, e.g. pluralign chat --model base "Hello" (or --list)')
    check_input(args.prompt)
    keys = args.model or [BASE_KEY]
    unknown = [k for k in keys if k not in specs]
    if unknown:
        raise KeyError(f"unknown model(s) {unknown}; `pluralign chat --list` shows the choices")
    if len(keys) > 4:
        raise ValueError(f"choose at most 4 models, got {len(keys)}")
    settings = GenerationSettings(args.temperature, args.top_p, args.max_tokens, args.seed, args.system)
    pool = ChatModelPool()
    replies: dict[str, str] = {}
    messages = [{"role": "user", "content": args.prompt}]
    for key in keys:
        pool.add(specs[key])
        print(f"\n== {specs[key].label} ==", flush=True)
        chunks = []
        for chunk in pool.stream_reply(key, messages, settings):
            chunks.append(chunk)
            print(chunk, end="", flush=True)
        print()
        replies[specs[key].label] = "".join(chunks)
    if len(replies) > 1:
        print("\n" + side_by_side(replies, shutil.get_terminal_size((120, 20)).columns))
    if args.ratings:
        from pluralign_core.rewards.training import load_group_reward_models

        dataset_id = store.active_dataset()
        models = load_group_reward_models(store, dataset_id) if dataset_id else {}
        if not models:
            print("No group reward models yet: `pluralign reward --defaults` trains them.", file=sys.stderr)
            return 0
        for label, reply in replies.items():
            table = rate_reply(reply, args.prompt, models)
            print(f"\nPredicted ratings of {label}:")
            print(table.pivot(index="group", columns="dimension", values="predicted").round(2).to_string())
    return 0

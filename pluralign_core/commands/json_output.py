"""Machine-readable command output: one JSON document on stdout, everything else on stderr.

``--json`` exists so that shells and notebooks can pipe a command into ``jq`` or ``json.loads``; that only
works when nothing else reaches stdout, so progress and notes go to stderr (:func:`note`) in every mode.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pandas as pd


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts: NaN becomes null, numpy scalars and timestamps become JSON types."""
    if frame.empty:
        return []
    return json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))


def emit(document: Any) -> None:
    """Print ``document`` as the command's only stdout output."""
    print(json.dumps(document, indent=2, default=str, allow_nan=False), flush=True)


def note(message: str) -> None:
    """A progress line or remark for a person: stderr, so stdout stays parseable."""
    print(message, file=sys.stderr, flush=True)


def add_json_flag(parser: Any) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout (progress goes to stderr)"
    )

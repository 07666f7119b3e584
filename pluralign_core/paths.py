"""Where pluralign keeps its state on disk.

Everything lives under one *home* folder so that a user (or a test) can point pluralign somewhere else
with one environment variable, ``PLURALIGN_HOME``. The database path can be set on its own with
``PLURALIGN_DB``. Layout::

    $PLURALIGN_HOME/
        pluralign.duckdb        the ratings store and the registries
        models/base/<name>/     de-quantized base models (plain Hugging Face folders)
        preference_sets/<id>/   exported preference data
        reward_models/<id>/     group reward models
        runs/<id>/              training runs: config.yaml, trainer_log.jsonl, adapter, model card
        evaluations/<id>/       evaluation results
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def home() -> Path:
    """The pluralign home folder, created on first use and kept private (0700).

    The store holds raters' race, religion and political answers; with the usual umask the folder would
    be 0755 and every local user could read them. A home the user created with looser permissions is
    tightened too (only the home itself: what lies below is unreachable to others once it is 0700).
    """
    path = Path(os.environ.get("PLURALIGN_HOME", Path.home() / ".pluralign")).expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    make_private(path, 0o700)
    return path


def make_private(path: Path, mode: int) -> None:
    """Set ``mode`` on a file or folder of ours whose permissions let other users in."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_uid == os.getuid() and status.st_mode & 0o077:
        path.chmod(mode)


def db_path() -> Path:
    """The DuckDB file: ``$PLURALIGN_DB`` or ``<home>/pluralign.duckdb``."""
    configured = os.environ.get("PLURALIGN_DB")
    return Path(configured).expanduser() if configured else home() / "pluralign.duckdb"


def subdir(*parts: str) -> Path:
    """A folder under home, created on demand (e.g. ``subdir("runs")``)."""
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_name(name: str, *, max_length: int = 80) -> str:
    """Turn a user-supplied name into one safe to use as a single path component.

    Anything outside ``[A-Za-z0-9._-]`` becomes ``-``; leading dots are removed so that a name can never
    be ``..`` or a hidden file. Raises ``ValueError`` when nothing usable is left.
    """
    cleaned = _SAFE_NAME.sub("-", name.strip()).strip("-").lstrip(".")[:max_length]
    if not cleaned:
        raise ValueError(f"{name!r} cannot be used as a name: use letters, digits, '.', '_' or '-'.")
    return cleaned

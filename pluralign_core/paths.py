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

import ctypes
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_RENAME_EXCHANGE = 2


class ArtifactExistsError(FileExistsError, ValueError):
    """A save would replace an existing artifact folder and the caller did not ask to replace it."""


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


def folder_name(name: str) -> str:
    """A collision-free folder name for ``name``: its safe form, plus a hash of it when that changed it.

    ``safe_name`` maps "a b" and "a-b" (or two labels that differ only in non-ASCII letters) to one name,
    so folders named that way would be shared — and deleting one would delete the other's.
    """
    safe = safe_name(name, max_length=60)
    if safe == name:
        return safe
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd = -100
    result = renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), _RENAME_EXCHANGE)
    return result == 0


@contextmanager
def staged_folder(target: Path, *, replace: bool = False) -> Iterator[Path]:
    """Write an artifact into a fresh, uniquely named staging folder and swap it in only on success.

    A save that fails half way (no pairs, a full disk, a killed process) leaves the old artifact as it
    was, two sessions saving at once never share or delete each other's staging folder, and overwriting
    an existing folder needs ``replace=True`` (else :class:`ArtifactExistsError` before any work). Where
    the kernel allows it the old and new folders are exchanged atomically, so a reader sees one or the
    other, never neither.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not replace:
        raise ArtifactExistsError(
            f"{target} already exists; choose another name, or replace it explicitly "
            "(the Replace checkbox, --replace on the command line)"
        )
    token = uuid.uuid4().hex[:12]
    staging = target.parent / f".{target.name}.staging-{token}"
    staging.mkdir()
    try:
        yield staging
        if not target.exists():
            try:
                staging.rename(target)
                return
            except OSError:  # another save created it meanwhile
                if not replace:
                    raise ArtifactExistsError(f"{target} was created by another save meanwhile") from None
        if _exchange(staging, target):
            shutil.rmtree(staging)
            return
        retired = target.parent / f".{target.name}.old-{token}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

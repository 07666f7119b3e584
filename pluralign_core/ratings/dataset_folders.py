"""Importing a Hugging Face dataset folder: one saved with ``save_to_disk``, or a Hub export's Parquet shards.

Ratings published on the Hub (DICES, PRISM, an Argilla export pushed with ``to_hub``) arrive as Parquet
shards named ``<split>-00000-of-00002.parquet`` (often under ``data/``) or, from the Hub's Parquet
conversion, as ``<config>/<split>/0000.parquet``; a local ``datasets`` object saved with ``save_to_disk``
is a folder of Arrow files with ``state.json`` (one split) or ``dataset_dict.json`` (several). All splits
are read into one table; when there are several, the column ``hf_split`` says where each row came from
(the mapping step may then use or ignore it; it is not pluralign's train/held-out ``split``).

Nothing here runs code from the folder: Arrow and Parquet are data formats, and no loading script is used.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd


class FolderError(ValueError):
    """Why a folder cannot be imported; ``kind`` is the problem kind the import report shows."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


SPLIT_COLUMN = "hf_split"
_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_.]+?)-\d{5}-of-\d{5}(?:-[0-9a-f]+)?\.parquet$")


def folder_kind(folder: Path) -> str | None:
    """``"save_to_disk"``, ``"parquet"`` or None (not a dataset folder we can read)."""
    if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
        return "save_to_disk"
    if any(folder.rglob("*.parquet")):
        return "parquet"
    return None


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def shard_split(path: Path, folder: Path) -> str:
    """The split a Parquet shard belongs to, from its name (``train-00000-of-00001``) or its folder."""
    match = _SHARD.match(path.name)
    if match:
        return match.group("split")
    parent = path.parent
    return parent.name if parent != folder and parent.name != "data" else "train"


def _from_disk(folder: Path) -> pd.DataFrame:
    from datasets import Dataset, DatasetDict, load_from_disk

    loaded = load_from_disk(str(folder))
    if isinstance(loaded, Dataset):
        return loaded.to_pandas()
    assert isinstance(loaded, DatasetDict)
    frames = [split.to_pandas().assign(**{SPLIT_COLUMN: name}) for name, split in loaded.items()]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _from_shards(folder: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = sorted(folder.rglob("*.parquet"))
    splits = [shard_split(p, folder) for p in shards]
    tables = [pq.read_table(p).append_column(SPLIT_COLUMN, pa.array([s] * pq.read_metadata(p).num_rows))
              for p, s in zip(shards, splits, strict=True)]  # fmt: skip
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    return frame if len(set(splits)) > 1 else frame.drop(columns=SPLIT_COLUMN)


def read_dataset_folder(folder: Path, max_bytes: int) -> pd.DataFrame:
    """The folder's rows (all splits) as one frame; raises :class:`FolderError` saying what to do."""
    kind = folder_kind(folder)
    if kind is None:
        raise FolderError(
            "unsupported_folder",
            f"{folder} is a folder but not a Hugging Face dataset: it has neither dataset_dict.json / "
            "state.json (save_to_disk) nor .parquet files; give a ratings file or such a folder",
        )
    size = _folder_bytes(folder)
    if size > max_bytes:
        raise FolderError(
            "too_large",
            f"the folder holds {size / 1024**2:,.1f} MB, above the limit of {max_bytes / 1024**2:,.1f} MB; "
            "import a subset or raise the limit (ImportLimits.max_bytes)",
        )
    try:
        frame = _from_disk(folder) if kind == "save_to_disk" else _from_shards(folder)
    except Exception as error:  # datasets and pyarrow raise many unrelated types for a damaged folder
        raise FolderError(
            "parse_error",
            f"the {kind} dataset folder cannot be read ({type(error).__name__}: {error}); save or "
            "download it again",
        ) from error
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)

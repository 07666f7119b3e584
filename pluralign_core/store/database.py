"""The DuckDB ratings store: datasets, raters, prompts, responses, ratings, and a registry of artifacts.

Design rules:

* One file, many datasets side by side; every row carries its ``dataset_id``.
* Demographics are *long*: ``rater_attributes(rater_id, attribute, value)`` holds the built-in
  attributes and whatever an imported dataset brings, and a multi-select attribute (race) simply has
  several rows per rater. Analysis code therefore treats every attribute the same way.
* Writes are short and atomic. DuckDB allows one writing process per file, so the file is attached
  per operation (:meth:`Store.connect`) and detached straight after; a training subprocess never opens
  the database for writing — it writes into its run folder and the app registers the result.
* :func:`write_dataset` is the only way rows get in (import and simulation both use it); it runs in one
  transaction and checks referential integrity, so a failed write leaves the store exactly as it was.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pluralign_core import paths
from pluralign_core.ratings.bundle import DatasetBundle, DatasetError
from pluralign_core.ratings.schema import Attribute, DatasetInfo, Dimension, Scale
from pluralign_core.store import group_totals
from pluralign_core.store.host import HOST, StoreBusyError  # noqa: F401 (re-exported)
from pluralign_core.store.ratings_order import append_ratings, repeated_ratings

SCHEMA_VERSION = 1

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS settings (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, description VARCHAR,
    scale_min INTEGER NOT NULL, scale_max INTEGER NOT NULL, scale_labels VARCHAR[],
    simulated BOOLEAN NOT NULL, source VARCHAR, meta JSON, fingerprint VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS dimensions (
    dataset_id VARCHAR NOT NULL, name VARCHAR NOT NULL, label VARCHAR, higher_is_better BOOLEAN NOT NULL,
    description VARCHAR, position INTEGER
);
CREATE TABLE IF NOT EXISTS attributes (
    dataset_id VARCHAR NOT NULL, name VARCHAR NOT NULL, label VARCHAR, builtin BOOLEAN,
    multi_valued BOOLEAN, value_order VARCHAR[], position INTEGER
);
CREATE TABLE IF NOT EXISTS raters (dataset_id VARCHAR NOT NULL, rater_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS rater_attributes (
    dataset_id VARCHAR NOT NULL, rater_id VARCHAR NOT NULL, attribute VARCHAR NOT NULL, value VARCHAR
);
CREATE TABLE IF NOT EXISTS prompts (
    dataset_id VARCHAR NOT NULL, prompt_id VARCHAR NOT NULL, prompt_key VARCHAR, text VARCHAR NOT NULL,
    language VARCHAR, topic VARCHAR, split VARCHAR
);
CREATE TABLE IF NOT EXISTS responses (
    dataset_id VARCHAR NOT NULL, response_id VARCHAR NOT NULL, prompt_id VARCHAR, text VARCHAR NOT NULL,
    language VARCHAR
);
CREATE TABLE IF NOT EXISTS response_levels (
    dataset_id VARCHAR NOT NULL, response_id VARCHAR NOT NULL, dimension VARCHAR NOT NULL, level DOUBLE
);
CREATE TABLE IF NOT EXISTS ratings (
    dataset_id VARCHAR NOT NULL, rater_id VARCHAR NOT NULL, response_id VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL, score SMALLINT NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    artifact_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, dataset_id VARCHAR, name VARCHAR NOT NULL,
    path VARCHAR, config JSON, metrics JSON, status VARCHAR, created_at TIMESTAMP NOT NULL
);
INSERT OR IGNORE INTO settings VALUES ('schema_version', '{SCHEMA_VERSION}');
"""

DATASET_TABLES = (
    "ratings",
    "response_levels",
    "responses",
    "prompts",
    "rater_attributes",
    "raters",
    "attributes",
    "dimensions",
    "datasets",
)

PREFERENCE_KINDS = ("preference_set", "unpaired_set")  # pairs (DPO / GRPO) and unpaired labels (KTO)
ARTIFACT_KINDS = (*PREFERENCE_KINDS, "reward_model", "adapter", "run", "evaluation", "grid")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """Handle on one DuckDB file. Cheap to create; holds no open connection between operations."""

    def __init__(self, path: Path | str | None = None, *, busy_timeout: float = 15.0) -> None:
        self.path = Path(path) if path is not None else paths.db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout = busy_timeout
        if not self._schema_is_current():
            with self.connect() as con:
                con.execute(_SCHEMA)
                group_totals.ensure_table(con)  # and totals for the datasets stored before it existed
        paths.make_private(self.path, 0o600)

    def _schema_is_current(self) -> bool:
        """Whether the file already has this version's schema, checked through a read-only attach.

        Opening read-write only to run ``CREATE TABLE IF NOT EXISTS`` would make every read-only command
        (``pluralign datasets``, a second app) need the write lock, and wait or fail while another process
        holds the file for a long import.
        """
        if not self.path.exists():
            return False
        with self.connect(read_only=True) as con:
            listed = con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            )
            tables = {row[0] for row in listed.fetchall()}
            if not {"settings", *DATASET_TABLES, group_totals.TABLE, "artifacts"} <= tables:
                return False
            row = con.execute("SELECT value FROM settings WHERE key = 'schema_version'").fetchone()
        return row is not None and row[0] == str(SCHEMA_VERSION)

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one operation, waiting while another process holds the file.

        The file is attached to this process's DuckDB instance only while the block runs (see
        :mod:`pluralign_core.store.host`), so other processes can use it between operations.
        """
        with HOST.attached(self.path, read_only=read_only, busy_timeout=self.busy_timeout) as con:
            yield con

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN/COMMIT; any exception rolls everything back."""
        with self.connect() as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a read query and return a DataFrame."""
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    # ----------------------------------------------------------------- datasets
    def datasets(self) -> pd.DataFrame:
        """All datasets with their row counts, newest first."""
        return self.query(
            """
            SELECT d.dataset_id, d.name, d.description, d.simulated, d.source, d.scale_min, d.scale_max,
                   d.fingerprint, d.created_at,
                   (SELECT count(*) FROM raters r WHERE r.dataset_id = d.dataset_id) AS n_raters,
                   (SELECT count(*) FROM prompts p WHERE p.dataset_id = d.dataset_id) AS n_prompts,
                   (SELECT count(*) FROM responses s WHERE s.dataset_id = d.dataset_id) AS n_responses,
                   (SELECT count(*) FROM ratings g WHERE g.dataset_id = d.dataset_id) AS n_ratings
            FROM datasets d ORDER BY d.created_at DESC
            """
        )

    def has_dataset(self, dataset_id: str) -> bool:
        return not self.query("SELECT 1 FROM datasets WHERE dataset_id = ?", [dataset_id]).empty

    def dataset_info(self, dataset_id: str) -> DatasetInfo:
        """The :class:`DatasetInfo` of a stored dataset (``KeyError`` when there is none)."""
        rows = self.query("SELECT * FROM datasets WHERE dataset_id = ?", [dataset_id])
        if rows.empty:
            raise KeyError(f"no dataset {dataset_id!r} in {self.path}")
        row = rows.iloc[0]
        labels = tuple(row["scale_labels"]) if row["scale_labels"] is not None else ()
        return DatasetInfo(
            dataset_id=row["dataset_id"],
            name=row["name"],
            description=row["description"] or "",
            scale=Scale(int(row["scale_min"]), int(row["scale_max"]), labels),
            simulated=bool(row["simulated"]),
            source=row["source"] or "",
            meta=json.loads(row["meta"]) if row["meta"] else {},
        )

    def dimensions(self, dataset_id: str) -> list[Dimension]:
        rows = self.query("SELECT * FROM dimensions WHERE dataset_id = ? ORDER BY position", [dataset_id])
        return [
            Dimension(r.name, r.label, bool(r.higher_is_better), r.description or "")
            for r in rows.itertuples()
        ]

    def attributes(self, dataset_id: str) -> list[Attribute]:
        rows = self.query("SELECT * FROM attributes WHERE dataset_id = ? ORDER BY position", [dataset_id])
        return [
            Attribute(
                r.name,
                r.label,
                bool(r.builtin),
                bool(r.multi_valued),
                tuple(r.value_order) if r.value_order is not None else (),
            )
            for r in rows.itertuples()
        ]

    def raters_wide(self, dataset_id: str) -> pd.DataFrame:
        """One row per rater, one column per attribute; multi-valued attributes joined with ``"; "``."""
        long = self.query(
            """
            SELECT rater_id, attribute, string_agg(value, '; ' ORDER BY value) AS value
            FROM rater_attributes WHERE dataset_id = ? GROUP BY rater_id, attribute
            """,
            [dataset_id],
        )
        if long.empty:
            return self.query("SELECT rater_id FROM raters WHERE dataset_id = ?", [dataset_id])
        wide = long.pivot(index="rater_id", columns="attribute", values="value").reset_index()
        wide.columns.name = None
        return wide

    def active_dataset(self) -> str | None:
        """The dataset the user picked last, or the newest one, or None for an empty store."""
        chosen = self.query("SELECT value FROM settings WHERE key = 'active_dataset'")
        if not chosen.empty and self.has_dataset(chosen.iloc[0, 0]):
            return str(chosen.iloc[0, 0])
        newest = self.query("SELECT dataset_id FROM datasets ORDER BY created_at DESC LIMIT 1")
        return None if newest.empty else str(newest.iloc[0, 0])

    def set_active_dataset(self, dataset_id: str) -> None:
        if not self.has_dataset(dataset_id):
            raise KeyError(f"no dataset {dataset_id!r}; choose one of {list(self.datasets().dataset_id)}")
        with self.connect() as con:
            con.execute("INSERT OR REPLACE INTO settings VALUES ('active_dataset', ?)", [dataset_id])

    def delete_dataset(self, dataset_id: str) -> None:
        with self.transaction() as con:
            for table in (*DATASET_TABLES, group_totals.TABLE):
                con.execute(f"DELETE FROM {table} WHERE dataset_id = ?", [dataset_id])

    def write_dataset(self, bundle: DatasetBundle, *, replace: bool = False) -> str:
        """Validate and write a whole dataset atomically; returns its fingerprint."""
        return write_dataset(self, bundle, replace=replace)

    # ---------------------------------------------------------------- artifacts
    def register_artifact(
        self,
        kind: str,
        name: str,
        *,
        path: Path | str | None = None,
        dataset_id: str | None = None,
        config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        status: str = "ready",
        artifact_id: str | None = None,
    ) -> str:
        """Add an artifact (preference set, adapter, run, ...) or update one by id.

        On update, arguments left as None (path, dataset, config, metrics) keep their stored values.
        """
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}; expected one of {ARTIFACT_KINDS}")
        artifact_id = artifact_id or f"{kind}-{uuid.uuid4().hex[:10]}"
        existing = "(SELECT {} FROM artifacts WHERE artifact_id = ?)"
        with self.connect() as con:
            con.execute(
                f"""
                INSERT OR REPLACE INTO artifacts VALUES (?, ?,
                    coalesce(?, {existing.format("dataset_id")}), ?,
                    coalesce(?, {existing.format("path")}),
                    coalesce(?, {existing.format("config")}, '{{}}'),
                    coalesce(?, {existing.format("metrics")}, '{{}}'), ?,
                    coalesce({existing.format("created_at")}, ?))
                """,
                [
                    artifact_id,
                    kind,
                    dataset_id,
                    artifact_id,
                    name,
                    str(path) if path is not None else None,
                    artifact_id,
                    None if config is None else json.dumps(config, default=str),
                    artifact_id,
                    None if metrics is None else json.dumps(metrics, default=str),
                    artifact_id,
                    status,
                    artifact_id,
                    _now(),
                ],
            )
        return artifact_id

    def artifacts(self, kind: str | None = None, dataset_id: str | None = None) -> pd.DataFrame:
        """Registered artifacts (newest first) with ``config``/``metrics`` decoded to dicts."""
        sql = "SELECT * FROM artifacts WHERE (? IS NULL OR kind = ?) AND (? IS NULL OR dataset_id = ?)"
        rows = self.query(sql + " ORDER BY created_at DESC", [kind, kind, dataset_id, dataset_id])
        for column in ("config", "metrics"):
            rows[column] = [json.loads(v) if v else {} for v in rows[column]]
        return rows

    def artifact(self, artifact_id: str) -> dict[str, Any]:
        rows = self.artifacts()
        match = rows[rows.artifact_id == artifact_id]
        if match.empty:
            raise KeyError(f"no artifact {artifact_id!r}")
        return match.iloc[0].to_dict()

    def delete_artifact(self, artifact_id: str) -> None:
        with self.connect() as con:
            con.execute("DELETE FROM artifacts WHERE artifact_id = ?", [artifact_id])


def _require_columns(frame: pd.DataFrame, table: str, columns: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(f"{table}: missing column(s) {missing}; have {list(frame.columns)}")
    return frame[columns]


def _check(con: duckdb.DuckDBPyConnection, sql: str, message: str) -> None:
    """Raise :class:`DatasetError` with up to five offending rows when ``sql`` returns any."""
    bad = con.execute(sql + " LIMIT 5").df()
    if not bad.empty:
        raise DatasetError(f"{message}; for example:\n{bad.to_string(index=False)}")


def write_dataset(store: Store, bundle: DatasetBundle, *, replace: bool = False) -> str:
    """Validate ``bundle`` and write it in one transaction.

    Raises :class:`DatasetError` (and writes nothing) when ids are duplicated, ratings point at unknown
    raters, responses or dimensions, or scores fall outside the scale. With ``replace=False`` an existing
    dataset id is an error; with ``replace=True`` the old rows are swapped out in the same transaction.
    """
    info = bundle.info
    if not info.dataset_id:
        raise DatasetError("dataset_id must not be empty")
    frames = {
        "raters": _require_columns(bundle.raters, "raters", ["rater_id"]),
        "rater_attributes": _require_columns(
            bundle.rater_attributes, "rater_attributes", ["rater_id", "attribute", "value"]
        ),
        "prompts": _require_columns(
            bundle.prompts, "prompts", ["prompt_id", "prompt_key", "text", "language", "topic", "split"]
        ),
        "responses": _require_columns(
            bundle.responses, "responses", ["response_id", "prompt_id", "text", "language"]
        ),
        "response_levels": _require_columns(
            bundle.response_levels, "response_levels", ["response_id", "dimension", "level"]
        ),
        "ratings": _require_columns(
            bundle.ratings, "ratings", ["rater_id", "response_id", "dimension", "score"]
        ),
    }
    dims = pd.DataFrame(
        [(d.name, d.label, d.higher_is_better, d.description, i) for i, d in enumerate(bundle.dimensions)],
        columns=["name", "label", "higher_is_better", "description", "position"],
    )
    attrs = pd.DataFrame(
        [
            (a.name, a.label, a.builtin, a.multi_valued, list(a.values), i)
            for i, a in enumerate(bundle.attributes)
        ],
        columns=["name", "label", "builtin", "multi_valued", "value_order", "position"],
    )
    if dims.empty:
        raise DatasetError("a dataset needs at least one dimension")
    scale = info.scale

    with store.transaction() as con:
        exists = con.execute("SELECT 1 FROM datasets WHERE dataset_id = ?", [info.dataset_id]).fetchone()
        if exists and not replace:
            raise DatasetError(
                f"a dataset named {info.dataset_id!r} exists already; pick another name or replace it"
            )
        if exists:
            for table in DATASET_TABLES:
                con.execute(f"DELETE FROM {table} WHERE dataset_id = ?", [info.dataset_id])
        for name, frame in frames.items():
            con.register(f"_new_{name}", frame)
        con.register("_new_dimensions", dims)
        con.register("_new_attributes", attrs)

        _check(
            con, "SELECT rater_id, count(*) n FROM _new_raters GROUP BY 1 HAVING n > 1", "duplicate rater ids"
        )
        _check(
            con,
            "SELECT prompt_id, count(*) n FROM _new_prompts GROUP BY 1 HAVING n > 1",
            "duplicate prompt ids",
        )
        _check(
            con,
            "SELECT response_id, count(*) n FROM _new_responses GROUP BY 1 HAVING n > 1",
            "duplicate response ids",
        )
        _check(
            con,
            "SELECT r.* FROM _new_responses r WHERE r.prompt_id IS NOT NULL "
            "AND r.prompt_id NOT IN (SELECT prompt_id FROM _new_prompts)",
            "responses refer to unknown prompts",
        )
        _check(
            con,
            "SELECT a.* FROM _new_rater_attributes a ANTI JOIN _new_raters r USING (rater_id)",
            "rater attributes refer to unknown raters",
        )
        _check(
            con,
            "SELECT g.* FROM _new_ratings g ANTI JOIN _new_raters r USING (rater_id)",
            "ratings refer to unknown raters",
        )
        _check(
            con,
            "SELECT g.* FROM _new_ratings g ANTI JOIN _new_responses r USING (response_id)",
            "ratings refer to unknown responses",
        )
        _check(
            con,
            "SELECT g.* FROM _new_ratings g WHERE g.dimension NOT IN (SELECT name FROM _new_dimensions)",
            "ratings use dimensions the dataset does not declare",
        )
        _check(
            con,
            f"SELECT g.* FROM _new_ratings g WHERE g.score IS NULL OR g.score < {scale.minimum} "
            f"OR g.score > {scale.maximum} OR g.score != round(g.score)",
            f"scores outside the {scale.minimum}..{scale.maximum} scale",
        )
        if repeated_ratings(frames["ratings"]):  # the examples are looked up only then
            _check(
                con,
                "SELECT rater_id, response_id, dimension, count(*) n FROM _new_ratings GROUP BY ALL "
                "HAVING n > 1",
                "the same rater rated the same response on the same dimension more than once",
            )
        ds = [info.dataset_id]
        con.execute("INSERT INTO raters SELECT ?, CAST(rater_id AS VARCHAR) FROM _new_raters", ds)
        con.execute(
            "INSERT INTO rater_attributes SELECT ?, CAST(rater_id AS VARCHAR), attribute, "
            "CAST(value AS VARCHAR) FROM _new_rater_attributes WHERE value IS NOT NULL",
            ds,
        )
        con.execute(
            "INSERT INTO prompts SELECT ?, prompt_id, prompt_key, text, language, topic, split "
            "FROM _new_prompts",
            ds,
        )
        con.execute(
            "INSERT INTO responses SELECT ?, response_id, prompt_id, text, language FROM _new_responses", ds
        )
        con.execute(
            "INSERT INTO response_levels SELECT ?, response_id, dimension, level FROM _new_response_levels",
            ds,
        )
        append_ratings(con, frames["ratings"], info.dataset_id)
        con.execute(
            "INSERT INTO dimensions SELECT ?, name, label, higher_is_better, description, position "
            "FROM _new_dimensions",
            ds,
        )
        con.execute(
            "INSERT INTO attributes SELECT ?, name, label, builtin, multi_valued, value_order, position "
            "FROM _new_attributes",
            ds,
        )
        group_totals.write_group_totals(con, info.dataset_id)
        fingerprint = con.execute(
            "SELECT printf('%016x', coalesce(bit_xor(hash(rater_id, response_id, dimension, score)), 0)) "
            "FROM ratings WHERE dataset_id = ?",
            ds,
        ).fetchone()[0]
        con.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                info.dataset_id,
                info.name,
                info.description,
                scale.minimum,
                scale.maximum,
                list(scale.labels),
                info.simulated,
                info.source,
                json.dumps(info.meta, default=str),
                fingerprint,
                _now(),
            ],
        )
    return fingerprint

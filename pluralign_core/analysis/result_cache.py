"""A process-wide cache of analysis results, keyed by the dataset's fingerprint and the call's arguments.

Why: ten browser sessions on Explore ask the same questions (group means by gender, agreement by age, …)
and every one of them ran the same aggregation and the same pure-Python statistics, one after another
under the GIL. With this cache the first caller computes a result and the others wait for it (single
flight) and get a copy; the page's own ``st.cache_data`` cannot serve the CLI, the other pages or the
core's own nested calls, and it computes concurrent misses of the same key side by side.

Invalidation: the key holds the dataset's version, :func:`dataset_version`: its ratings fingerprint and
the moment it was written. The fingerprint alone hashes only the ratings, so a dataset replaced with the
same ratings but other rater demographics would keep it; the write time changes on every write. A
changed dataset is therefore never answered from its old rows. Only calls on a
:class:`~pluralign_core.store.database.Store` are cached; a call on a bare DuckDB connection (inside
someone's transaction) always computes.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

from pluralign_core.store.database import Store

Result = TypeVar("Result")


def _copied(value: Any) -> Any:
    """A copy the caller may change without changing the cached result (frames, and tuples of them)."""
    if isinstance(value, pd.DataFrame | pd.Series):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    return value


@dataclass
class ResultCache:
    """Least-recently-used results, at most ``max_entries``; one computation per key at a time."""

    max_entries: int = 256
    _results: OrderedDict[tuple, Any] = field(default_factory=OrderedDict)
    _running: dict[tuple, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    computed: int = 0

    def get_or_compute(self, key: tuple, compute: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                if key in self._results:
                    self._results.move_to_end(key)
                    return _copied(self._results[key])
                running = self._running.get(key)
                if running is None:
                    running = self._running[key] = threading.Event()
                    break
            running.wait()  # another thread computes this key; then read its result (or compute on error)
        try:
            value = compute()
            with self._lock:
                self.computed += 1
                self._results[key] = value
                while len(self._results) > self.max_entries:
                    self._results.popitem(last=False)
            return _copied(value)
        finally:
            with self._lock:
                self._running.pop(key, None)
            running.set()

    def clear(self) -> None:
        with self._lock:
            self._results.clear()


RESULTS = ResultCache()


def dataset_version(store: Store, dataset_id: str) -> str:
    """``fingerprint@written``: changes on every write of the dataset; ``""`` when it does not exist."""
    rows = store.query("SELECT fingerprint, created_at FROM datasets WHERE dataset_id = ?", [dataset_id])
    return "" if rows.empty else f"{rows.fingerprint.iloc[0]}@{rows.created_at.iloc[0]}"


def cached_by_dataset(function: Callable[..., Result]) -> Callable[..., Result]:
    """Cache ``function(store, dataset_id, *args, **kwargs)`` in :data:`RESULTS`.

    The key is the function, the store file, the dataset id and its :func:`dataset_version`, and the
    ``repr`` of the other arguments (lists, tuples and the frozen filter dataclasses have a stable
    ``repr``).
    """

    @functools.wraps(function)
    def wrapper(store: Any, dataset_id: str, *args: Any, **kwargs: Any) -> Result:
        if not isinstance(store, Store):
            return function(store, dataset_id, *args, **kwargs)
        key = (
            function.__module__,
            function.__qualname__,
            str(store.path),
            dataset_id,
            dataset_version(store, dataset_id),
            repr(args),
            repr(sorted(kwargs.items())),
        )
        return RESULTS.get_or_compute(key, lambda: function(store, dataset_id, *args, **kwargs))

    wrapper.uncached = function  # type: ignore[attr-defined]
    return wrapper

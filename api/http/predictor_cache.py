"""Loaded predictors for on-demand inference: a bounded LRU with hit/miss/load statistics.

Torch is imported only when the first predictor is loaded.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from forecast.sampling import Precision
from resources import Kind, Registry, Workspace


class PredictorCache:
    def __init__(self, workspace: Workspace, registry: Registry, max_items: int, precision: Precision = "auto") -> None:
        self.workspace = workspace
        self.precision = precision
        self.registry = registry
        self.max_items = max_items
        self._items: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}
        self.hits = 0
        self.misses = 0
        self.loads = 0
        self.evictions = 0
        self.load_seconds_total = 0.0
        self.last_load_seconds: float | None = None

    def get(self, name: str) -> tuple[Any, Any]:
        """(manifest, fitted model) of an ACTIVE predictor; loads it on a miss."""
        from forecast.artifacts import load_predictor, read_manifest

        resource = self.registry.get_active(Kind.PREDICTOR, name)
        key = str(resource.artifact)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self.hits += 1
                self._items.move_to_end(key)
                return hit
            self.misses += 1
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                hit = self._items.get(key)
            if hit is not None:
                return hit
            started = time.perf_counter()
            manifest = read_manifest(self.workspace, key)
            value = (manifest, load_predictor(self.workspace, key, manifest, self.precision))
            seconds = time.perf_counter() - started
            with self._lock:
                self.loads += 1
                self.load_seconds_total += seconds
                self.last_load_seconds = seconds
                self._items[key] = value
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
                    self.evictions += 1
                self._load_locks.pop(key, None)
            return value

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "size": len(self._items), "max_size": self.max_items, "hits": self.hits, "misses": self.misses,
                "loads": self.loads, "evictions": self.evictions,
                "load_seconds_total": round(self.load_seconds_total, 4),
                "last_load_seconds": None if self.last_load_seconds is None else round(self.last_load_seconds, 4),
            }

"""A hierarchy over a dataset's series: its aggregate nodes, their ids and the summing matrix.

A hierarchy is given over a long-format dataset's key columns (``--hierarchy "state/region"``;
crossed ones with ``*``: ``"state/region * purpose"``), or as an explicit summing-matrix file
(:func:`read_summing_matrix`). Every aggregate node has a stable id: the path of
``dimension=value`` in hierarchy order joined by ``/`` (``state=Victoria``,
``state=Victoria/region=Melbourne``), the root ``__total__``. The bottom level is always the
dataset's own series, under their own keys (``A|state=Victoria|region=Melbourne``); a level that
names every key column is that bottom level, not a copy of it.

Aggregate series are sums of their bottom series, period by period (a period no bottom series
observes stays missing); :func:`node_series` builds them, :class:`NodeSeries` reads them back a
partition at a time, so fits and forecasts run over the nodes exactly as over a dataset's series.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from datasets import series_key
from forecast.config import parse_hierarchy
from forecast.data import SERIES_FIELDS, Entry, truncate
from forecast.errors import HyperparameterError
from resources import Workspace

#: The root node's id.
TOTAL = "__total__"
#: The bottom level's name in per-level reports.
BOTTOM = "series"
#: A matrix file's level (its nodes are not grouped into named levels).
FILE_LEVEL = "file"
#: The most nodes (aggregates and series) a hierarchy may have: reconciliation holds dense
#: node x node matrices per forecast step (2,408 nodes, 12 steps: 35 s and 1.1 GiB with mint-ols).
MAX_NODES = 2_500


def _levels(groups: list[list[str]]) -> list[tuple[str, ...]]:
    """Every aggregation level of the groups: the product of each group's prefixes (the empty one,
    the root, included), names in hierarchy order."""
    prefixes = [[tuple(g[:k]) for k in range(len(g) + 1)] for g in groups]
    return [tuple(n for part in combo for n in part) for combo in itertools.product(*prefixes)]


def node_id(names: Sequence[str], values: Sequence[str]) -> str:
    """A node's id: ``name=value`` pairs joined by ``/``; the root ``__total__``."""
    return "/".join(f"{n}={v}" for n, v in zip(names, values, strict=True)) or TOTAL


class Hierarchy(BaseModel):
    """The nodes of a hierarchy over given bottom series: aggregate nodes first (by level, coarsest
    first), then the bottom series, in that order everywhere (the summing matrix's rows)."""

    levels: list[str]  # level names, coarsest first; the bottom level last
    nodes: list[str]  # aggregate node ids
    node_level: list[int]  # index into levels, per aggregate node
    members: list[list[int]]  # the bottom series (indices into bottom) each aggregate node sums
    bottom: list[str]  # the bottom series' keys, in dataset order
    strict: bool  # every node has one parent (a tree): what top-down needs

    @property
    def ids(self) -> list[str]:
        """Every node's id, aggregates then bottom series."""
        return [*self.nodes, *self.bottom]

    def summing_matrix(self) -> np.ndarray:
        """``S`` ``(nodes + bottom, bottom)``: 1 where a node sums a bottom series."""
        n, b = len(self.nodes), len(self.bottom)
        s = np.zeros((n + b, b), dtype=np.float64)
        for i, rows in enumerate(self.members):
            s[i, rows] = 1.0
        s[n:, :] = np.eye(b)
        return s

    def tags(self) -> dict[str, np.ndarray]:
        """Level name -> the rows of ``S`` at that level (hierarchicalforecast's ``tags``)."""
        out = {name: np.flatnonzero(np.asarray(self.node_level) == i) for i, name in enumerate(self.levels[:-1])}
        out[self.levels[-1]] = np.arange(len(self.nodes), len(self.nodes) + len(self.bottom))
        return out

    def level_of(self) -> list[str]:
        """Every node's level name, aggregates then bottom series."""
        return [*(self.levels[i] for i in self.node_level), *([self.levels[-1]] * len(self.bottom))]


def build_hierarchy(text: str, series: Sequence[tuple[str, dict[str, str]]], item_names: Sequence[str]) -> Hierarchy:
    """The hierarchy ``text`` over ``series`` (each an item id and its dimension values, in dataset
    order); ``item_names``: what the item column may be called in ``text`` (``item_id``, and the
    column's name in the imported file).

    Raises
    ------
    HyperparameterError
        The text does not parse, or names a column the dataset does not have.
    """
    try:
        groups = parse_hierarchy(text)
    except ValueError as e:
        raise HyperparameterError(str(e)) from None
    if not series:
        raise HyperparameterError("the dataset has no series to build a hierarchy over")
    dims = list(series[0][1])
    known = [*dims, *item_names]
    unknown = [n for g in groups for n in g if n not in known]
    if unknown:
        have = ", ".join(dims) if dims else "none (a hierarchy needs a long-format dataset imported with --dimensions)"
        raise HyperparameterError(f"hierarchy {text!r} names {', '.join(repr(n) for n in unknown)}, which the dataset "
                                  f"does not have; its dimensions are {have}, and its item column is "
                                  f"{' or '.join(repr(n) for n in item_names)}")
    levels = sorted(_levels(groups), key=len)
    key_columns = {*dims, "item"}
    bottom = [series_key(item, d or None) for item, d in series]

    def value(item: str, d: dict[str, str], name: str) -> str:
        return item if name in item_names else d[name]

    nodes: dict[str, int] = {}
    node_level, members, level_names = [], [], []
    for names in levels:
        if {"item" if n in item_names else n for n in names} == key_columns:
            continue  # every key column: the bottom series themselves
        level = len(level_names)
        level_names.append("/".join(names) or TOTAL)
        for row, (item, d) in enumerate(series):
            values = [value(item, d, n) for n in names]
            nid = node_id(names, values)
            if nid not in nodes:
                nodes[nid] = len(nodes)
                node_level.append(level)
                members.append([])
            members[nodes[nid]].append(row)
    strict = len(groups) == 1
    return Hierarchy(levels=[*level_names, BOTTOM], nodes=list(nodes), node_level=node_level,
                     members=members, bottom=bottom, strict=strict)


def read_summing_matrix(text: str, where: str, bottom: Sequence[str]) -> Hierarchy:
    """A hierarchy from a summing-matrix CSV: a header ``node,<series key>,<series key>,...``
    naming every bottom series (by key, as ``predictors backtest --item`` takes them), then one row
    per aggregate node: its id and a 0 or 1 per series. Rows for the bottom series themselves (a
    single 1 under their own key) may be included and are checked.

    Raises
    ------
    HyperparameterError
        With the line and column: an unknown or missing series, a value other than 0 or 1, an
        empty or repeated node.
    """
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or len(rows[0]) < 2:
        raise HyperparameterError(f"{where}: expected a header row 'node,<series>,<series>,...' naming every series")
    header = [c.strip() for c in rows[0][1:]]
    index = {k: i for i, k in enumerate(bottom)}
    unknown = [c for c in header if c not in index]
    if unknown:
        raise HyperparameterError(f"{where}:1: column(s) {', '.join(repr(c) for c in unknown[:5])} are not series of "
                                  f"the dataset (series are named by key, such as {bottom[0]!r})")
    missing = [k for k in bottom if k not in set(header)]
    if missing:
        raise HyperparameterError(f"{where}:1: {len(missing)} series of the dataset have no column, such as "
                                  f"{', '.join(repr(k) for k in missing[:3])}: every bottom series must map to the "
                                  "hierarchy")
    if len(set(header)) != len(header):
        raise HyperparameterError(f"{where}:1: a series has two columns")
    cols = [index[c] for c in header]
    nodes: list[str] = []
    members: list[list[int]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        nid = row[0].strip()
        if len(row) != len(header) + 1:
            raise HyperparameterError(f"{where}:{line}: {len(row) - 1} values for {len(header)} series")
        try:
            values = [float(c) for c in row[1:]]
        except ValueError:
            raise HyperparameterError(f"{where}:{line}: values must be 0 or 1") from None
        if any(v not in (0.0, 1.0) for v in values):
            raise HyperparameterError(f"{where}:{line}: values must be 0 or 1")
        rows_of = sorted(cols[i] for i, v in enumerate(values) if v == 1.0)
        if nid in index:
            if rows_of != [index[nid]]:
                raise HyperparameterError(f"{where}:{line}: row {nid!r} is a bottom series, so it must sum only itself")
            continue
        if not nid or not rows_of:
            raise HyperparameterError(f"{where}:{line}: a node needs an id and at least one series")
        if nid in nodes:
            raise HyperparameterError(f"{where}:{line}: node {nid!r} is given twice")
        nodes.append(nid)
        members.append(rows_of)
    if not nodes:
        raise HyperparameterError(f"{where}: no aggregate node: add a row per node")
    return Hierarchy(levels=[FILE_LEVEL, BOTTOM], nodes=nodes, node_level=[0] * len(nodes),
                     members=members, bottom=list(bottom), strict=False)


def hierarchy_of(hp: Any, series: Sequence[tuple[str, dict[str, str]]], item_names: Sequence[str],
                 read_text: Callable[[str], str]) -> Hierarchy:
    """The hierarchy hyperparameters ``hp`` give (``hierarchy`` or ``hierarchy_file``, read by
    ``read_text``) over ``series``.

    Raises
    ------
    HyperparameterError
        As :func:`build_hierarchy` and :func:`read_summing_matrix`; or over :data:`MAX_NODES` nodes.
    """
    if hp.hierarchy:
        hierarchy = build_hierarchy(hp.hierarchy, series, item_names)
    else:
        bottom = [series_key(item, d or None) for item, d in series]
        try:
            text = read_text(hp.hierarchy_file)
        except (OSError, UnicodeDecodeError) as e:
            raise HyperparameterError(f"cannot read hierarchy_file {hp.hierarchy_file!r}: {e}") from None
        hierarchy = read_summing_matrix(text, hp.hierarchy_file, bottom)
    if len(hierarchy.ids) > MAX_NODES:
        raise HyperparameterError(
            f"the hierarchy has {len(hierarchy.ids):,} nodes ({len(hierarchy.nodes):,} aggregates over "
            f"{len(hierarchy.bottom):,} series); reconciliation here handles at most {MAX_NODES:,}: reconcile "
            "parts of the data as separate datasets (one per region, say), or use coarser levels")
    return hierarchy


# -- the nodes' series ------------------------------------------------------------------------------

def node_series(hierarchy: Hierarchy, entries: Iterable[Entry], freq: str) -> list[Entry]:
    """Every node's series, aggregates (sums of their bottom series, period by period; a period
    that no bottom series observes is missing) then the bottom series as they are, as entries
    with ``series_item`` and ``dimensions`` for the forecast's columns (an aggregate's dimension
    columns are empty: its id says what it sums). Features are not carried:
    an aggregate has none."""
    bottom = [{k: v for k, v in e.items() if k in ("item_id", "start", "target", *SERIES_FIELDS)} for e in entries]
    first = min(e["start"].ordinal for e in bottom)
    last = max(e["start"].ordinal + len(e["target"]) for e in bottom)
    grid = np.full((len(bottom), last - first), np.nan)
    for i, e in enumerate(bottom):
        at = e["start"].ordinal - first
        grid[i, at:at + len(e["target"])] = e["target"]
    observed = np.isfinite(grid)
    values = np.where(observed, grid, 0.0)
    out = []
    for nid, rows in zip(hierarchy.nodes, hierarchy.members, strict=True):
        total = values[rows].sum(axis=0)
        seen = observed[rows].any(axis=0)
        lo, hi = int(np.argmax(seen)), len(seen) - int(np.argmax(seen[::-1]))
        target = np.where(seen, total, np.nan)[lo:hi].astype(np.float32)
        out.append({"item_id": nid, "start": pd.Period(ordinal=first + lo, freq=freq), "target": target,
                    "series_item": nid, "dimensions": {}})  # its id says what it sums
    for e in bottom:
        e.setdefault("series_item", e["item_id"])
        e.setdefault("dimensions", {})
    return out + bottom


#: The nodes' series in the workspace: one row per node.
NODES_FILE = "nodes.parquet"


def write_nodes(workspace: Workspace, path: str, entries: Sequence[Entry]) -> None:
    """Write the nodes' series (:func:`node_series`) to ``path`` in the workspace."""
    names = sorted({k for e in entries for k in (e.get("dimensions") or {})})
    table = pa.table({
        "item_id": pa.array([str(e["item_id"]) for e in entries], pa.string()),
        "series_item": pa.array([str(e.get("series_item", e["item_id"])) for e in entries], pa.string()),
        "start": pa.array([e["start"].ordinal for e in entries], pa.int64()),
        "target": pa.array([np.asarray(e["target"], dtype=np.float32) for e in entries], pa.list_(pa.float32())),
        **{f"dim:{n}": pa.array([(e.get("dimensions") or {}).get(n) for e in entries], pa.string()) for n in names},
    })
    with workspace.open(path, "wb") as f:
        pq.write_table(table, f, compression="zstd", row_group_size=1024)


def read_nodes(workspace: Workspace, path: str, freq: str, rows: tuple[int, int] | None = None) -> list[Entry]:
    """Rows ``[start, stop)`` (default all) of the nodes' series written by :func:`write_nodes`."""
    with workspace.open(path, "rb") as f:
        table = pq.read_table(f)
    if rows is not None:
        table = table.slice(rows[0], rows[1] - rows[0])
    dims = [c for c in table.column_names if c.startswith("dim:")]
    cols = {c: table.column(c).to_pylist() for c in ("item_id", "series_item", "start", *dims)}
    targets = table.column("target")
    out = []
    for i in range(table.num_rows):
        out.append({"item_id": cols["item_id"][i], "start": pd.Period(ordinal=cols["start"][i], freq=freq),
                    "target": targets[i].values.to_numpy(zero_copy_only=False).astype(np.float32),
                    "series_item": cols["series_item"][i],
                    "dimensions": {c[4:]: cols[c][i] for c in dims if cols[c][i] is not None}})
    return out


class NodeSeries(BaseModel):
    """The nodes' series of a hierarchical predictor, read a partition at a time from the
    workspace (a :class:`forecast.series_source.SeriesSource`): what its fits and backtests read,
    as a model sees them."""

    root: str
    storage_options: dict[str, Any] = {}
    path: str
    freq: str
    num_items: int
    drop: int = 0
    length_max: int = 0

    def read(self, start: int, stop: int) -> list[Entry]:
        entries = read_nodes(Workspace(self.root, storage_options=self.storage_options), self.path, self.freq,
                             (start, stop))
        entries = [{k: v for k, v in e.items() if k not in SERIES_FIELDS} for e in entries]
        return truncate(entries, self.drop, min_length=1) if self.drop else entries

    def before(self, drop: int) -> NodeSeries:
        return self.model_copy(update={"drop": self.drop + drop})

    def longest(self) -> int:
        return self.length_max - self.drop

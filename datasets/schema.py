"""Field names of the DeepAR JSON-lines format, their GluonTS aliases, and the stored columns."""

from __future__ import annotations

from typing import Final

import pyarrow as pa

START: Final[str] = "start"
TARGET: Final[str] = "target"
CAT: Final[str] = "cat"
DYNAMIC_FEAT: Final[str] = "dynamic_feat"
ITEM_ID: Final[str] = "item_id"
#: The values of a long-format dataset's dimension columns (store, region, ...), in the order the
#: dataset's summary names them; null without dimensions.
DIMENSIONS: Final[str] = "dimensions"

#: GluonTS spellings accepted on input and renamed at the boundary.
ALIASES: Final[dict[str, str]] = {
    "feat_static_cat": CAT,
    "feat_dynamic_real": DYNAMIC_FEAT,
}
KNOWN_FIELDS: Final[frozenset[str]] = frozenset({START, TARGET, CAT, DYNAMIC_FEAT, ITEM_ID}) | (
    frozenset(ALIASES)
)

#: The columnar copy kept in the workspace: one row per series.
STORED_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        pa.field(ITEM_ID, pa.string(), nullable=False),
        pa.field(START, pa.timestamp("ns"), nullable=False),
        pa.field(TARGET, pa.list_(pa.float32()), nullable=False),
        pa.field(CAT, pa.list_(pa.int32())),
        pa.field(DYNAMIC_FEAT, pa.list_(pa.list_(pa.float32()))),
        pa.field(DIMENSIONS, pa.list_(pa.string())),
    ]
)

#: Source file kinds by suffix (after an optional ``.gz``).
JSON_SUFFIXES: Final[tuple[str, ...]] = (".json", ".jsonl", ".jsonlines", ".ndjson")
PARQUET_SUFFIXES: Final[tuple[str, ...]] = (".parquet", ".pq")
CSV_SUFFIXES: Final[tuple[str, ...]] = (".csv",)

"""Hierarchies (no training): the spec, node ids and summing matrix over fpp3's tourism, the
summing-matrix file's checks, the nodes' series, and every reconciliation method's coherence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datasets.samples import long_frames
from forecast.config import RECONCILE_METHODS, Hyperparameters
from forecast.errors import HyperparameterError
from forecast.hierarchy import TOTAL, build_hierarchy, node_series, read_summing_matrix
from forecast.reconcile import reconcile


@pytest.fixture(scope="module")
def tourism() -> tuple[list[tuple[str, dict[str, str]]], list[dict]]:  # type: ignore[type-arg]
    """fpp3 tourism: 304 (region, purpose) series, region as the item, state and purpose dimensions."""
    frame = long_frames("tourism-regions")["target"]
    series, entries = [], []
    for (region, state, purpose), g in frame.groupby(["item_id", "state", "purpose"], sort=False):
        dims = {"state": state, "purpose": purpose}
        series.append((region, dims))
        entries.append({"item_id": f"{region}|state={state}|purpose={purpose}", "series_item": region,
                        "dimensions": dims, "start": pd.Period(g["timestamp"].iloc[0], freq="Q"),
                        "target": g["target_value"].to_numpy(np.float32)})
    return series, entries


def test_the_books_tourism_hierarchy_has_its_nodes(tourism) -> None:  # type: ignore[no-untyped-def]
    series, _ = tourism
    h = build_hierarchy("state/region * purpose", series, ["item_id", "region"])
    counts = {lv: int((np.asarray(h.node_level) == i).sum()) for i, lv in enumerate(h.levels[:-1])}
    # fpp3 11.1: 1 total, 4 purposes, 8 states, 32 state x purpose, 76 regions; 304 bottom series
    assert counts == {TOTAL: 1, "purpose": 4, "state": 8, "state/purpose": 32, "state/region": 76}
    assert len(h.bottom) == 304 and not h.strict
    assert "state=Victoria/region=Melbourne" in h.nodes and "state=Victoria/purpose=Holiday" in h.nodes
    assert h.bottom[0].count("|") == 2  # the series keep their own keys
    s = h.summing_matrix()
    assert s.shape == (425, 304) and s[h.nodes.index(TOTAL)].sum() == 304
    nested = build_hierarchy("state/region", series, ["item_id", "region"])
    assert nested.strict and nested.levels == [TOTAL, "state", "state/region", "series"]


@pytest.mark.parametrize(("text", "fragment"), [
    ("state/county", "names 'county', which the dataset does not have; its dimensions are state, purpose"),
    ("state//region", "has an empty name"),
    ("state * state", "names state more than once"),
])
def test_bad_hierarchies_name_the_problem(tourism, text: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HyperparameterError, match=fragment.replace("*", r"\*")):
        build_hierarchy(text, tourism[0], ["item_id", "region"])


@pytest.mark.parametrize(("values", "fragment"), [
    ({"hierarchy": "state * purpose", "reconcile": "top-down"}, "top-down needs a strict hierarchy"),
    ({"reconcile": "bottom-up"}, "reconcile needs a hierarchy"),
    ({"hierarchy": "state", "hierarchy_file": "s.csv"}, "not both"),
    ({"hierarchy": "state", "test_quantiles": [0.5, 0.8]}, "symmetric pair"),
    ({"hierarchy": "state", "reconcile": "mint-trace"}, "reconcile"),
])
def test_bad_hierarchy_options(values: dict, fragment: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=fragment):
        Hyperparameters.from_values({"prediction_length": 8, **values})


def test_summing_matrix_file() -> None:
    bottom = ["a|g=1", "b|g=1", "c|g=2"]
    h = read_summing_matrix("node,a|g=1,b|g=1,c|g=2\ntop,1,1,1\ng1,1,1,0\na|g=1,1,0,0\n", "s.csv", bottom)
    assert h.nodes == ["top", "g1"] and h.members == [[0, 1, 2], [0, 1]]
    for text, fragment in [
        ("node,a|g=1,b|g=1\ntop,1,1\n", "s.csv:1: 1 series of the dataset have no column, such as 'c|g=2'"),
        ("node,a|g=1,b|g=1,c|g=2,d\ntop,1,1,1,1\n", "s.csv:1: column(s) 'd' are not series"),
        ("node,a|g=1,b|g=1,c|g=2\ntop,1,2,1\n", "s.csv:2: values must be 0 or 1"),
        ("node,a|g=1,b|g=1,c|g=2\ntop,1,1,1\ntop,1,1,0\n", "s.csv:3: node 'top' is given twice"),
        ("node,a|g=1,b|g=1,c|g=2\na|g=1,1,1,0\n", "s.csv:2: row 'a|g=1' is a bottom series"),
    ]:
        with pytest.raises(HyperparameterError, match=fragment.replace("|", r"\|").replace("(", r"\(").replace(")", r"\)")):
            read_summing_matrix(text, "s.csv", bottom)


def test_aggregates_are_sums_period_by_period(tourism) -> None:  # type: ignore[no-untyped-def]
    series, entries = tourism
    h = build_hierarchy("state", series, ["item_id"])
    nodes = node_series(h, entries, "Q")
    total = nodes[h.nodes.index(TOTAL)]
    assert np.allclose(total["target"], np.sum([e["target"] for e in entries], axis=0), rtol=1e-6)
    vic = nodes[h.nodes.index("state=Victoria")]
    assert np.allclose(vic["target"], np.sum([e["target"] for e in entries if e["dimensions"]["state"] == "Victoria"],
                                             axis=0), rtol=1e-6)
    assert vic["dimensions"] == {} and nodes[-1]["item_id"] == entries[-1]["item_id"]


@pytest.mark.parametrize("method", RECONCILE_METHODS)
def test_every_method_makes_forecasts_coherent(tourism, method: str) -> None:  # type: ignore[no-untyped-def]
    series, entries = tourism
    h = build_hierarchy("state/region" if method == "top-down" else "state/region * purpose", series,
                        ["item_id", "region"])
    nodes = node_series(h, entries, "Q")
    rng = np.random.default_rng(0)
    mean = np.stack([np.full(8, e["target"][-8:].mean()) for e in nodes]) * rng.uniform(0.8, 1.2, (len(nodes), 8))
    levels = [0.1, 0.5, 0.9]
    q = np.stack([mean * 0.7, mean, mean * 1.3], axis=1)
    # not clipped at 0: a reconciled median below 0 (MinTrace may give one) is clipped, and only there incoherent
    rec_mean, rec_q = reconcile(method, h, mean, q, levels, [e["target"] for e in nodes], 4, nonnegative=False)
    s, b = h.summing_matrix(), len(h.bottom)
    scale = np.abs(rec_mean).max()
    assert np.abs(s @ rec_mean[-b:] - rec_mean).max() <= 1e-9 * scale  # the mean
    assert np.abs(s @ rec_q[-b:, 1] - rec_q[:, 1]).max() <= 1e-9 * scale  # the median
    assert (np.diff(rec_q, axis=1) >= -1e-9).all()  # quantiles in order
    if method == "bottom-up":
        assert np.allclose(rec_mean[-b:], mean[-b:])
    if method == "top-down":  # every quantile adds up: each node is a share of the total
        assert np.abs(s @ rec_q[-b:, 0] - rec_q[:, 0]).max() <= 1e-9 * scale
    else:  # the quantiles of a coherent distribution: a sum's spread is below the sum of spreads
        top = h.nodes.index(TOTAL)
        assert rec_q[top, 2, 0] - rec_q[top, 0, 0] < (rec_q[-b:, 2, 0] - rec_q[-b:, 0, 0]).sum()


def test_a_hierarchy_too_large_to_reconcile_is_refused() -> None:
    from forecast.hierarchy import MAX_NODES, hierarchy_of

    series = [(f"i{i}", {"g": f"g{i % 3}"}) for i in range(MAX_NODES)]
    hp = Hyperparameters(prediction_length=4, hierarchy="g")
    with pytest.raises(HyperparameterError, match=f"has {MAX_NODES + 4:,} nodes .4 aggregates over {MAX_NODES:,} series"):
        hierarchy_of(hp, series, ["item_id"], lambda path: "")

"""Intermittent demand: the demand classification, the count distribution of the intermittent
models, and the models end to end on fpp3's PBS scripts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from datasets.samples import long_frames
from datasets.summary import demand_class
from forecast.models.intermittent import count_quantiles, count_spread, dispersion


@pytest.mark.parametrize(("values", "expected"), [
    ([5, 6, 5, 7, 6, 5, 6, 5], "smooth"),  # every period, steady sizes
    ([1, 20, 2, 15, 1, 30, 2, 1], "erratic"),  # every period, sizes vary
    ([0, 0, 4, 0, 0, 5, 0, 0, 4, 0], "intermittent"),  # rare, steady
    ([0, 0, 1, 0, 0, 25, 0, 0, 3, 0], "lumpy"),  # rare, varying
    ([0, 0, 0], "no demand"),
    ([1, -2, 3], "not demand"),
])
def test_demand_classes_follow_syntetos_boylan(values: list[float], expected: str) -> None:
    assert demand_class(np.asarray(values, dtype=float)) == expected


def test_count_quantiles_are_a_negative_binomial_with_the_models_mean() -> None:
    mean = np.array([[0.4, 0.4], [3.0, 3.0], [0.0, 0.0]])
    sigma = np.sqrt(2.5 * mean)  # variance 2.5 x the mean: over-dispersed
    levels = [0.1, 0.5, 0.9, 0.99]
    q, m = count_quantiles(mean, sigma, levels, integer=True)
    assert np.array_equal(m, mean.astype(np.float32))
    assert np.array_equal(q, np.round(q)) and (np.diff(q, axis=1) >= 0).all()
    p = 1 / 2.5
    expected = stats.nbinom.ppf(levels, 3.0 * p / (1 - p), p)
    assert np.array_equal(q[1, :, 0], expected)
    assert (q[0, :2, 0] == 0).all() and q[0, 3, 0] >= 2  # "0 most weeks, sometimes more"
    assert (q[2] == 0).all()
    poisson, _ = count_quantiles(mean, np.sqrt(mean), levels, integer=True)
    assert np.array_equal(poisson[1, :, 0], stats.poisson.ppf(levels, 3.0))
    gamma, _ = count_quantiles(mean, sigma, levels, integer=False)  # fractions: gamma, same mean and variance
    assert (gamma >= 0).all() and not np.array_equal(gamma, np.round(gamma))


def test_dispersion_is_the_historys_variance_to_mean_ratio() -> None:
    y = np.array([0, 0, 3, 0, 0, 0, 6, 0, 0, 1], dtype=float)
    assert dispersion(y) == pytest.approx(y.var(ddof=1) / y.mean())
    assert dispersion(np.array([2.0, 2.0, 2.0])) == 1.0  # never below Poisson's
    assert np.allclose(count_spread(y, np.array([1.0, 2.0])), np.sqrt(dispersion(y) * np.array([1.0, 2.0])))


@pytest.mark.slow
def test_intermittent_models_end_to_end(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame = long_frames("pbs")["target"]
    keys = ["item_id", "concession", "type"]
    cls = frame.groupby(keys)["target_value"].transform(lambda v: demand_class(v.to_numpy()))
    sparse = frame[cls.isin(["intermittent", "lumpy"])]
    sparse.to_csv(tmp_path / "pbs.csv", index=False)
    code, out, _ = cli("datasets", "import", "pbs", str(tmp_path / "pbs.csv"), "--freq", "M",
                       "--dimensions", "concession,type", "--json")
    assert code == 0
    classes = json.loads(out)["summary"]["demand_classes"]
    assert set(classes) <= {"intermittent", "lumpy"} and sum(classes.values()) == sparse.groupby(keys).ngroups
    for algorithm in ("croston", "imapa"):
        code, out, err = cli("predictors", "create", algorithm, "-d", "pbs", "--prediction-length", "12",
                             "--algorithm", algorithm, "--json")
        assert code == 0, out + err
        body = json.loads(out)
        assert body["training"]["distribution"].startswith("negative binomial")
        assert body["metrics"]["predictor"]["spl"] > 0 and body["metrics"]["predictor"]["rmsse"] > 0
    code, _, _ = cli("forecasts", "create", "f", "--predictor", "imapa", "--types", "0.1,0.5,0.9,mean")
    assert code == 0
    item, concession, kind = next(iter(sparse.groupby(keys).groups))
    code, out, _ = cli("forecasts", "query", "f", item, "--where", f"concession={concession}", "--where",
                       f"type={kind}", "--json")
    assert code == 0
    predictions = json.loads(out)["predictions"]
    for column in ("p10", "p50", "p90"):
        values = [p["value"] for p in predictions[column]]
        assert values == [round(v) for v in values] and min(values) >= 0  # counts
    assert all(a["value"] <= b["value"] for a, b in zip(predictions["p10"], predictions["p90"], strict=True))


@pytest.mark.slow
def test_auto_weighs_intermittent_series_apart(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On PBS (some intermittent series), auto chooses the intermittent group's weights over its
    members and the intermittent models, on those series alone; the smooth series' weights are over
    its members only and are the weights a run without intermittent members gives them."""
    frame = long_frames("pbs")["target"]
    keys = ["item_id", "concession", "type"]
    cls = frame.groupby(keys)["target_value"].transform(lambda v: demand_class(v.to_numpy()[:-24]))
    smooth = frame[cls == "smooth"].groupby(keys).ngroups
    chosen = frame[cls.isin(["intermittent", "lumpy"]) | (frame["item_id"].isin(["A01", "A02", "A03", "A04"]) &
                                                           (cls == "smooth"))]
    chosen.to_csv(tmp_path / "pbs.csv", index=False)
    assert smooth and cli("datasets", "import", "pbs", str(tmp_path / "pbs.csv"), "--freq", "M",
                          "--dimensions", "concession,type")[0] == 0
    common = ("-d", "pbs", "--prediction-length", "12", "--members", "ets,seasonal_naive", "--json")
    code, out, err = cli("predictors", "create", "grouped", *common)
    assert code == 0, out + err
    training = json.loads(out)["training"]
    groups = training["validation"]["groups"]
    assert set(groups) == {"smooth", "intermittent"} and groups["intermittent"]["items"] > 0
    assert set(training["weights"]) <= {"ets", "seasonal_naive"}
    assert set(training["group_weights"]["intermittent"]) <= {"ets", "seasonal_naive", "croston", "sba", "tsb",
                                                              "adida", "imapa"}
    assert any("weights chosen per demand group" in n for n in training["notes"])
    code, out, _ = cli("predictors", "create", "plain", *common[:-1], "--intermittent-members", "[]", "--json")
    assert code == 0
    plain = json.loads(out)["training"]
    assert plain["weights"] == training["weights"]  # the smooth series are weighed as without the intermittent models
    assert set(plain.get("group_weights", {}).get("intermittent", {})) <= {"ets", "seasonal_naive"}

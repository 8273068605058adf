"""Metrics on a hand-checked example (values worked out on paper in the comments)."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.metrics import accuracy, seasonal_naive, seasonal_scale


def test_hand_checked_example() -> None:
    y = np.array([[1.0, 2.0, 3.0]])
    levels = [0.1, 0.5, 0.9]
    q = np.array([[[0.0, 1.0, 2.0], [1.0, 2.0, 4.0], [2.0, 4.0, 5.0]]])
    mean = np.array([[1.0, 3.0, 3.0]])
    overall, rows = accuracy(y, q, levels, mean, q[:, 1, :], np.array([1.0]))
    # wQL[0.1]: y - q = 1, 1, 1 -> 0.1 * 3 = 0.3; 2 * 0.3 / sum|y| (6) = 0.1
    # wQL[0.5]: y - q = 0, 0, -1 -> 0.5;          2 * 0.5 / 6 = 1/6
    # wQL[0.9]: y - q = -1, -2, -2 -> 0.1 * 5 = 0.5; 2 * 0.5 / 6 = 1/6
    assert overall.wql == pytest.approx({"0.1": 0.1, "0.5": 1 / 6, "0.9": 1 / 6})
    assert overall.mean_wql == pytest.approx((0.1 + 1 / 3) / 3)
    assert overall.wape == pytest.approx(1 / 6)  # |y - mean| = 0, 1, 0
    assert overall.rmse == pytest.approx(np.sqrt(1 / 3))
    assert overall.mase == pytest.approx(1 / 3)  # |y - median| = 0, 0, 1 over scale 1
    assert overall.mape == pytest.approx(1 / 6)  # 0, 1/2, 0
    assert overall.coverage == pytest.approx({"0.1": 0.0, "0.5": 1 / 3, "0.9": 1.0})
    assert rows["mean_wql"][0] == pytest.approx(overall.mean_wql)


def test_missing_actuals_are_left_out() -> None:
    y = np.array([[1.0, np.nan, 3.0], [2.0, 2.0, 2.0]])
    q = np.repeat(np.array([[[1.0, 5.0, 3.0]], [[2.0, 2.0, 2.0]]]), 1, axis=1)
    point = q[:, 0, :]
    overall, _ = accuracy(y, q, [0.5], point, point, np.array([1.0, 1.0]))
    assert overall.num_points == 5
    assert overall.wape == 0.0 and overall.rmse == 0.0 and overall.mase == 0.0


def test_seasonal_helpers() -> None:
    assert seasonal_scale(np.array([1, 2, 3, 4, 5, 6], dtype=float), 2) == 2.0
    assert seasonal_scale(np.array([1, 3], dtype=float), 12) == 2.0  # too short: m = 1
    np.testing.assert_array_equal(seasonal_naive(np.array([1, 2, 3, 4.0]), 5, 2), [3, 4, 3, 4, 3])
    np.testing.assert_array_equal(seasonal_naive(np.array([1, 2, np.nan, 4.0]), 2, 2), [2, 4])
    np.testing.assert_array_equal(seasonal_naive(np.array([7.0]), 3, 12), [7, 7, 7])


@pytest.mark.slow
def test_headline_figures_say_what_one_series_does_to_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """fpp3 PBS, the co-payment series of a few ATC2 groups, seasonal naive: C05's window holds one
    spike after years of zeros, so its MASE is in the thousands and owns most of the mean; the
    backtest gives the median item's MASE, the share of the worst five, and lists C05 with why."""
    from tsdata import fpp3

    from api.runtime import build_runtime
    from datasets import import_dataset
    from datasets.long_format import LongFormat
    from forecast.config import Hyperparameters
    from forecast.predictors import create_predictor

    pbs = fpp3.PBS
    pbs = pbs[(pbs["Type"] == "Co-payments") & (pbs["Concession"] == "General")
              & pbs["ATC2"].isin(["A02", "C05", "C09", "N02", "R03", "A10"])]
    pbs[["Month", "ATC2", "Cost"]].to_csv(tmp_path / "pbs.csv", index=False)
    rt = build_runtime()
    import_dataset(rt.workspace, rt.registry, "pbs", str(tmp_path / "pbs.csv"), freq="M", layout="long",
                   long=LongFormat(item_column="ATC2", timestamp_column="Month", target_column="Cost",
                                   timestamp_format="%Y %b"))
    r = create_predictor(rt.workspace, rt.registry, "p", dataset="pbs",
                         hyperparameters=Hyperparameters(prediction_length=12, algorithm="seasonal_naive"))
    m = r.result["metrics"]
    own = m["predictor"]
    assert own["mase"] > 100 * own["mase_median"] and own["mase_worst_share"] > 0.9
    (c05,) = [e for e in m["extreme_items"] if e["item_id"] == "C05"]
    assert c05["metric"] == "mase" and "spike" in c05["reason"]
    assert m["items_left_out"] is None

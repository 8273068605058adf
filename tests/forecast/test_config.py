"""Hyperparameter validation: ranges, names, and checks against the data, before any training."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from forecast.config import DataFacts, Hyperparameters, resolve
from forecast.errors import HyperparameterError

FACTS = DataFacts(num_series=10, lengths_min=20, lengths_max=100, target_min=0.0, target_max=50.0, target_integer=True,
                  cat_cardinalities=[3, 5], num_dynamic_feat=1, freq="M")


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"prediction_length": 401}, "less than or equal to 400"),
        ({"prediction_length": 0}, "greater than or equal to 1"),
        ({"prediction_length": 4, "likelihood": "poisson"}, "student-T"),
        ({"prediction_length": 4, "dropout_rate": 1.0}, "less than 1"),
        ({"prediction_length": 4, "learning_rate": 0}, "greater than 0"),
        ({"prediction_length": 4, "num_cels": 10}, "Extra inputs are not permitted"),
        ({"prediction_length": 4, "test_quantiles": [0.5, 0.5]}, "distinct"),
        ({"prediction_length": 4, "test_quantiles": [1.0]}, "less than 1"),
    ],
)
def test_out_of_range(values: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Hyperparameters.model_validate(values)


def test_likelihood_spellings() -> None:
    assert Hyperparameters(prediction_length=1, likelihood="Student-T").likelihood == "student-T"
    assert Hyperparameters(prediction_length=1, likelihood="negative_binomial").likelihood == "negative-binomial"


@pytest.mark.parametrize(
    ("values", "facts", "fragment"),
    [
        ({"likelihood": "beta"}, {}, "needs every target value in (0, 1)"),
        ({"likelihood": "negative-binomial"}, {"target_min": -1.0}, "needs non-negative targets"),
        ({"likelihood": "negative-binomial"}, {"target_integer": False}, "needs whole-number targets"),
        ({"prediction_length": 60}, {}, "every series is too short"),
        ({"context_length": 80}, {}, "lower context_length"),
        ({"cardinality": [3]}, {}, "cardinality has 1 entries but the data has 2"),
        ({"cardinality": [3, 4]}, {}, "cardinality[1] = 4 but the data has cat values up to 4"),
        ({"num_dynamic_feat": 2}, {}, "the data has 1 dynamic features"),
        ({"time_freq": "W"}, {}, "time_freq 'W' does not match the dataset's frequency 'M'"),
    ],
)
def test_checks_against_the_data(values: dict[str, object], facts: dict[str, object], fragment: str) -> None:
    hp = Hyperparameters.model_validate({"prediction_length": 12, **values})
    with pytest.raises(HyperparameterError) as info:
        resolve(hp, FACTS.model_copy(update=facts))
    assert fragment in str(info.value)


def test_time_freq_that_matches_is_accepted() -> None:
    assert resolve(Hyperparameters(prediction_length=12, time_freq="M"), FACTS).freq == "M"


@pytest.mark.parametrize(
    ("freq", "horizon", "context"),
    [("M", 24, 15), ("M", 12, 12), ("Q", 8, 8), ("Q", 4, 4), ("h", 48, 30), ("D", 14, 9), ("W-SUN", 104, 65),
     ("Y", 6, 6)],
)
def test_default_context_is_the_horizon_capped_at_a_season_and_a_quarter(freq: str, horizon: int, context: int) -> None:
    facts = FACTS.model_copy(update={"freq": freq, "lengths_max": 500})
    assert resolve(Hyperparameters(prediction_length=horizon), facts).context_length == context
    assert resolve(Hyperparameters(prediction_length=horizon, context_length=40), facts).context_length == 40


def test_resolution_defaults() -> None:
    cfg = resolve(Hyperparameters(prediction_length=12), FACTS)
    assert cfg.context_length == 12
    assert cfg.cardinality == [3, 5] and cfg.embedding_dimension == [10, 10]
    assert cfg.num_dynamic_feat == 1
    ignored = resolve(Hyperparameters(prediction_length=12, cardinality="ignore", num_dynamic_feat="ignore"), FACTS)
    assert ignored.cardinality == [] and ignored.num_dynamic_feat == 0


@pytest.mark.parametrize(("freq", "period"), [
    ("Y-DEC", 1), ("Q-DEC", 4), ("M", 12), ("MS", 12), ("W-SUN", 52), ("W-MON", 52), ("D", 7), ("B", 5), ("h", 24),
    ("30min", 48), ("15min", 96), ("min", 1440), ("2h", 12), ("2D", 1), ("7D", 1),
])
def test_seasonal_periods_as_forecasting_practice_uses_them(freq: str, period: int) -> None:
    """Daily 7 and weekly 52 (gluonts' table says 1 for both, which makes the seasonal-naive
    baseline a last-value naive); the rest as gluonts."""
    from forecast.config import seasonal_period

    assert seasonal_period(freq) == period


def test_daily_seasonal_naive_repeats_the_last_week() -> None:
    import numpy as np

    from forecast.config import seasonal_period
    from forecast.metrics import seasonal_naive, seasonal_scale

    history = np.tile(np.arange(7, dtype=np.float32), 6)  # a weekly pattern, no trend
    m = seasonal_period("D")
    assert seasonal_naive(history, 10, m).tolist() == [0, 1, 2, 3, 4, 5, 6, 0, 1, 2]
    assert seasonal_scale(history, m) == 0  # perfectly weekly: the seasonal difference is zero

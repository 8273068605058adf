"""Cached calendar features give exactly what gluonts' AddTimeFeatures gives, for every frequency."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from gluonts.time_feature import time_features_from_frequency_str
from gluonts.transform import AddAgeFeature, AddTimeFeatures, Chain

from forecast.transforms import inference_transform


def _step(freq: str) -> AddTimeFeatures:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = time_features_from_frequency_str(freq)
    return AddTimeFeatures(start_field="start", target_field="target", output_field="time_feat",
                           time_features=features, pred_length=7)


@pytest.mark.parametrize("freq", ["M", "Q-DEC", "W-SUN", "D", "B", "h", "min", "15min", "Y-DEC"])
def test_same_features_as_gluonts(freq: str) -> None:
    ours = inference_transform(Chain([_step(freq), AddAgeFeature(target_field="target", output_field="age",
                                                                 pred_length=7)]))
    reference = _step(freq)
    rng = np.random.default_rng(0)
    base = pd.Period("2011-03-01 00:00", freq=freq)
    # series in a random order: the covered range has to grow backwards and forwards
    for _ in range(60):
        entry = {"start": base + int(rng.integers(-3000, 3000)), "target": np.zeros(int(rng.integers(1, 400)), np.float32)}
        expected = reference.map_transform(dict(entry), is_train=False)["time_feat"]
        got = next(iter(ours([dict(entry)], is_train=False)))
        if expected is None:  # no calendar features for this frequency (yearly)
            assert got["time_feat"] is None
            continue
        assert got["time_feat"].dtype == expected.dtype
        np.testing.assert_array_equal(got["time_feat"], expected)
        assert got["age"].shape == (1, len(entry["target"]) + 7)


def test_other_steps_are_kept() -> None:
    age = AddAgeFeature(target_field="target", output_field="age", pred_length=3)
    out = inference_transform(Chain([age]))
    assert out.transformations == [age]

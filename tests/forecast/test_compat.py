"""The private fast paths go through forecast.compat, each checked against the public path it
replaces; where one is gone or wrong (a version bump), the public path runs with the same results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from gluonts.torch.distributions import StudentTOutput

from forecast import compat
from forecast.sampling import PathSampler
from tests.forecast.test_sampling import _gluonts, _inputs, _model, _ours


@pytest.fixture
def fresh_report() -> Iterator[None]:
    for check in compat.CHECKS.values():
        check.cache_clear()
    yield
    for check in compat.CHECKS.values():
        check.cache_clear()


def test_every_fast_path_passes_its_check_with_the_pinned_versions(fresh_report: None) -> None:
    assert compat.report() == {"generator_draws": True, "onednn_lstm": True, "ces_recursion": True}


def test_a_broken_private_sampler_falls_back_to_torchs_own_sample(fresh_report: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch._standard_gamma`` no longer taking a generator (a version bump): the check fails,
    the sampler draws student-T with ``distr.sample()``, and float32 paths are still exactly gluonts'."""
    real = torch._standard_gamma

    def other(concentration: Any, generator: Any = None) -> Any:
        if generator is not None:
            raise TypeError("_standard_gamma() got an unexpected keyword argument 'generator'")
        return real(concentration)

    monkeypatch.setattr(torch, "_standard_gamma", other)
    assert compat.generator_draws() is False
    model = _model(StudentTOutput())
    sampler = PathSampler(model, "float32")
    assert not sampler.student_t
    inputs = _inputs(model, 5)
    assert torch.equal(_ours(sampler, inputs, 20, seed=4), _gluonts(model, inputs, 20, seed=4))


def test_a_missing_onednn_layer_falls_back_to_nn_lstm(fresh_report: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch.ops.aten, "mkldnn_rnn_layer", raising=False)
    monkeypatch.setattr(compat, "lstm_layers", lambda rnn: (_ for _ in ()).throw(AttributeError("gone")))
    assert compat.onednn_lstm() is False
    model = _model(StudentTOutput())
    sampler = PathSampler(model, "float32")
    assert sampler._layers[torch.float32] is None
    inputs = _inputs(model, 5)
    assert torch.equal(_ours(sampler, inputs, 20, seed=4), _gluonts(model, inputs, 20, seed=4))


def test_without_the_ces_recursion_autoces_uses_statsforecasts_simulated_spread(
        fresh_report: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from statsforecast.models import AutoCES

    from forecast.models.gaussian import ces_gaussian, gaussian_from_interval

    y = 100 + 10 * np.sin(np.arange(48) * 2 * np.pi / 12) + np.random.default_rng(0).normal(0, 2, 48)
    model = AutoCES(season_length=12).fit(y)
    exact = ces_gaussian(model, 6)
    assert exact is not None
    monkeypatch.setattr(compat, "ces_recursion_available", lambda: False)
    assert ces_gaussian(model, 6) is None  # the caller then reads statsforecast's own interval
    mean, sigma = gaussian_from_interval(model.predict(h=6, level=[80]))
    np.testing.assert_allclose(mean, exact[0], rtol=1e-9)
    np.testing.assert_allclose(sigma, exact[1], rtol=0.1)

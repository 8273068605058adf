"""The statistical models' Gaussian forecasts: a mean and a standard deviation per step read off
statsforecast's intervals (symmetric and Gaussian for these models), AutoCES's computed exactly
from its fitted states, and the quantiles of either (censored at 0 for non-negative data)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

_Z80 = 1.2815515655446004  # standard normal quantile at 0.9: the 80 % interval's half-width in sigmas


def gaussian_from_interval(out: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The mean and standard deviation per step of a statsforecast forecast with ``level=[80]``
    (its 80 % interval is symmetric and Gaussian)."""
    mean = np.asarray(out["mean"], dtype=np.float64)
    return mean, _spread((np.asarray(out["hi-80"], dtype=np.float64) - mean) / _Z80)


def _spread(sigma: np.ndarray) -> np.ndarray:
    """A standard deviation per step as stored: not finite or negative becomes 0."""
    return np.maximum(np.nan_to_num(sigma, nan=0.0, posinf=0.0), 0.0)


def ces_gaussian(model: Any, h: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A fitted AutoCES's forecast and its exact Gaussian spread, or ``None`` to use statsforecast's own.

    statsforecast's AutoCES intervals come from 5,000 simulated paths, each forecast from the
    fitted states plus i.i.d. N(0, sigma^2) noise on every state: 94 % of AutoCES's time (7.0 of
    7.5 CPU-s on 40 Tourism monthly series). CES is linear in its states, so those paths are
    Gaussian around the point forecast, with variance sigma^2 times the squared norm of each step's
    gradient in the states. The gradient takes one forecast per state the forecast reads (the last
    ``m`` rows: the seasonal lag); one random perturbation of *every* state checks that the
    forecast is linear in them and reads no other state. If the check fails (another statsforecast
    version) or the errors are not normal, ``None``."""
    from forecast import compat

    recursion = compat.ces_recursion()
    if recursion is None:
        return None
    cesforecast, switch_ces = recursion
    fit = model.model_
    if "states" not in fit:  # a constant series: statsforecast fits its constant model, which predicts itself
        return None
    if fit.get("distribution", "normal") != "normal":
        return None
    states = np.asarray(fit["states"], dtype=np.float64)
    n, m, season = int(fit["n"]), int(fit["m"]), switch_ces(fit["seasontype"])

    def forecast(s: np.ndarray) -> np.ndarray:
        f = np.zeros(h)
        cesforecast(states=s, n=n, m=m, season=season, h=h, f=f, **fit["par"])
        return f

    mean = forecast(states)
    rows = slice(n, min(n + m, len(states)))
    step = max(1.0, float(np.abs(states).max()))  # linear: any step is exact; a large one rounds least
    grads = []
    for r in range(rows.start, rows.stop):
        for c in range(states.shape[1]):
            shifted = states.copy()
            shifted[r, c] += step
            grads.append((forecast(shifted) - mean) / step)
    jacobian = np.array(grads).reshape(-1, h)  # (states read, h)
    noise = step * np.random.default_rng(0).standard_normal(states.shape)  # as large as the states
    scale = 1.0 + float(np.abs(mean).max()) + step
    if not np.allclose(forecast(states + noise), mean + noise[rows].reshape(-1) @ jacobian, rtol=0, atol=1e-8 * scale):
        return None
    with np.errstate(invalid="ignore"):  # a negative or NaN variance: spread 0, as gaussian_from_interval's
        return mean, _spread(np.sqrt(float(fit["sigma2"])) * np.sqrt((jacobian**2).sum(axis=0)))


def gaussian_quantiles(mean: np.ndarray, sigma: np.ndarray, levels: Sequence[float],
                       nonnegative: bool) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles ``(N, Q, H)`` and mean ``(N, H)`` of ``N(mean, sigma)`` per step, or of its
    censoring at 0 (``max(Y, 0)``) when ``nonnegative``."""
    from scipy.special import ndtr, ndtri

    z = ndtri(np.asarray(levels, dtype=np.float64))
    q = mean[:, None, :] + sigma[:, None, :] * z[None, :, None]
    m = mean
    if nonnegative:
        q = np.maximum(q, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(sigma > 0, mean / sigma, np.copysign(np.inf, mean))
            pdf = np.exp(-0.5 * a**2) / math.sqrt(2 * math.pi)
            m = np.where(sigma > 0, mean * ndtr(a) + sigma * pdf, np.maximum(mean, 0.0))
    return q.astype(np.float32), m.astype(np.float32)

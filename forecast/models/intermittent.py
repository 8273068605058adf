"""Models for intermittent demand (many zero periods) and the distribution their forecasts take.

statsforecast's Croston (``croston``), its Syntetos-Boylan correction (``sba``), TSB (``tsb``,
smoothing demand size and probability with 0.1 each), ADIDA (``adida``) and IMAPA (``imapa``)
forecast a *rate*: the expected demand per period. A Gaussian interval around a rate of 0.4
describes "0 most weeks, sometimes 3" poorly (a median of 0.4, negative lower quantiles). Their
forecast here is a count distribution whose mean is the model's rate: negative binomial with the
series' own variance-to-mean ratio (at least 1, Poisson), or for data with fractions a gamma
distribution with the same mean and variance. Measured on fpp3's PBS scripts (bench/README.md,
"Intermittent demand"), against Poisson and a Gaussian of the same mean and variance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: The most recent points the variance-to-mean ratio is read from.
DISPERSION_POINTS = 60


def make_intermittent(algorithm: str) -> Any:
    """The statsforecast model of an intermittent algorithm."""
    from statsforecast.models import ADIDA, IMAPA, TSB, CrostonClassic, CrostonSBA

    if algorithm == "tsb":
        return TSB(alpha_d=0.1, alpha_p=0.1)
    return {"croston": CrostonClassic, "sba": CrostonSBA, "adida": ADIDA, "imapa": IMAPA}[algorithm]()


def dispersion(y: np.ndarray) -> float:
    """The variance-to-mean ratio of the recent history (at least 1: no less spread than Poisson)."""
    recent = np.asarray(y, dtype=np.float64)[-DISPERSION_POINTS:]
    recent = recent[np.isfinite(recent)]
    if recent.size < 2 or recent.mean() <= 0:
        return 1.0
    return max(1.0, float(recent.var(ddof=1) / recent.mean()))


def count_spread(y: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The standard deviation per step of the count distribution around ``mean`` (as stored beside
    it): ``sqrt(phi * mean)`` with ``phi`` the history's :func:`dispersion`."""
    return np.sqrt(dispersion(y) * np.maximum(mean, 0.0))


def count_quantiles(mean: np.ndarray, sigma: np.ndarray, levels: Sequence[float], *,
                    integer: bool) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles ``(N, Q, H)`` and mean ``(N, H)`` of the distribution with mean ``mean`` and
    standard deviation ``sigma`` per step: negative binomial for whole-number data (Poisson where
    the variance is the mean), gamma otherwise; 0 where the mean is 0."""
    from scipy import stats

    m = np.maximum(np.asarray(mean, dtype=np.float64), 0.0)
    var = np.maximum(np.asarray(sigma, dtype=np.float64) ** 2, m)  # at least Poisson's spread
    lv = np.asarray(levels, dtype=np.float64)[None, :, None]
    mm, vv = m[:, None, :], var[:, None, :]
    positive = mm > 0
    with np.errstate(all="ignore"):
        if integer:
            over = vv > mm * (1 + 1e-9)
            p = np.where(over, mm / vv, 0.5)
            n = np.where(over, mm * mm / np.maximum(vv - mm, 1e-300), 1.0)
            q = np.where(over, stats.nbinom.ppf(lv, n, p), stats.poisson.ppf(lv, np.where(positive, mm, 1.0)))
        else:
            shape = np.where(positive, mm * mm / vv, 1.0)
            q = stats.gamma.ppf(lv, shape, scale=np.where(positive, vv / np.where(positive, mm, 1.0), 1.0))
    q = np.where(positive, np.nan_to_num(q, nan=0.0, posinf=0.0), 0.0)
    return q.astype(np.float32), m.astype(np.float32)

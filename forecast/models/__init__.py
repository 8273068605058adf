"""Forecasting algorithms behind one interface (:mod:`forecast.models.base`).

=================  ==========================================================================
``auto``           the default: the members below trained side by side and combined by weights
                   chosen on a validation window before the backtest (:mod:`.ensemble`)
``deepar``         gluonts' DeepAR, one global network (:mod:`.deepar`)
``ets``            statsforecast AutoETS per series (:mod:`.statistical`)
``theta``          statsforecast AutoTheta per series
``arima``          statsforecast AutoARIMA per series (slow on long seasonal series)
``ces``            statsforecast AutoCES per series
``npts``           gluonts' non-parametric time series sampler (:mod:`.npts`)
``seasonal_naive`` the last season repeated, with Gaussian intervals from its residuals
=================  ==========================================================================

Adding an algorithm is one module with an :class:`~forecast.models.base.Algorithm` and a
:class:`~forecast.models.base.Model`, and a line in :func:`build_algorithm` and :func:`model_class`.
Nothing here imports torch until DeepAR is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from forecast.config import ALGORITHMS, STATISTICAL, ResolvedConfig

if TYPE_CHECKING:
    from forecast.models.base import Algorithm, Model

__all__ = ["ALGORITHMS", "STATISTICAL", "build_algorithm", "load_model", "model_class"]


def build_algorithm(cfg: ResolvedConfig, name: str | None = None) -> Algorithm:
    """The algorithm ``name`` (default: the configuration's) for ``cfg``."""
    name = name or cfg.hp.algorithm
    if name == "auto":
        from forecast.models.ensemble import EnsembleAlgorithm

        return EnsembleAlgorithm(cfg)
    if name == "deepar":
        from forecast.models.deepar import DeepARAlgorithm

        return DeepARAlgorithm(cfg)
    if name == "npts":
        from forecast.models.npts import NPTSAlgorithm

        return NPTSAlgorithm(cfg)
    if name in STATISTICAL:
        from forecast.models.statistical import StatisticalAlgorithm

        return StatisticalAlgorithm(cfg, name)
    raise ValueError(f"unknown algorithm {name!r}")


def model_class(algorithm: str) -> type[Model]:
    if algorithm == "auto":
        from forecast.models.ensemble import EnsembleModel

        return EnsembleModel
    if algorithm == "deepar":
        from forecast.models.deepar import DeepARModel

        return DeepARModel
    if algorithm == "npts":
        from forecast.models.npts import NPTSModel

        return NPTSModel
    if algorithm in STATISTICAL:
        from forecast.models.statistical import StatisticalModel

        return StatisticalModel
    raise ValueError(f"unknown algorithm {algorithm!r}")


def load_model(folder: Path, cfg: ResolvedConfig) -> Model:
    """The model saved in ``folder`` by a predictor configured as ``cfg``."""
    return model_class(cfg.hp.algorithm).load(folder, cfg)

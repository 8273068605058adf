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
``chronos``        a pretrained model (Chronos-Bolt, Chronos-2) from weights the user
                   provides, zero-shot (:mod:`.chronos`)
=================  ==========================================================================

Adding an algorithm is one module with an :class:`~forecast.models.base.Algorithm` and a
:class:`~forecast.models.base.Model`, and its line in :data:`MODULES`.
Nothing here imports torch until DeepAR is used.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecast.config import ALGORITHMS, STATISTICAL, ResolvedConfig

if TYPE_CHECKING:
    from forecast.models.base import Algorithm, Model
    from forecast.models.ensemble import EnsembleAlgorithm

__all__ = ["ALGORITHMS", "MODULES", "STATISTICAL", "build_algorithm", "load_model", "model_class"]


#: Each algorithm's modules: where its :class:`~forecast.models.base.Algorithm` (fitting) and its
#: :class:`~forecast.models.base.Model` (forecasting) live. Named, not imported: loading a model
#: to forecast never loads what trains one (import-linter checks it).
MODULES: dict[str, tuple[str, str]] = {
    "auto": ("forecast.models.ensemble:EnsembleAlgorithm", "forecast.models.ensemble:EnsembleModel"),
    "deepar": ("forecast.models.deepar_training:DeepARAlgorithm", "forecast.models.deepar:DeepARModel"),
    "npts": ("forecast.models.npts:NPTSAlgorithm", "forecast.models.npts:NPTSModel"),
    "chronos": ("forecast.models.chronos:ChronosAlgorithm", "forecast.models.chronos:ChronosModel"),
    **{name: ("forecast.models.statistical:StatisticalAlgorithm", "forecast.models.statistical:StatisticalModel")
       for name in STATISTICAL},
}


def _class(name: str, which: int) -> Any:
    if name not in MODULES:
        raise ValueError(f"unknown algorithm {name!r}")
    module, _, cls = MODULES[name][which].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_algorithm(cfg: ResolvedConfig, name: str | None = None) -> Algorithm | EnsembleAlgorithm:
    """The algorithm ``name`` (default: the configuration's) for ``cfg`` (``auto``: the combination
    of its members' algorithms)."""
    name = name or cfg.hp.algorithm
    algorithm = _class(name, 0)
    return algorithm(cfg, name) if name in STATISTICAL else algorithm(cfg)  # type: ignore[no-any-return]


def model_class(algorithm: str) -> type[Model]:
    return _class(algorithm, 1)  # type: ignore[no-any-return]


def load_model(folder: Path, cfg: ResolvedConfig) -> Model:
    """The model saved in ``folder`` by a predictor configured as ``cfg``."""
    return model_class(cfg.hp.algorithm).load(folder, cfg)

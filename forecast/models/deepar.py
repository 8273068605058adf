"""DeepAR (gluonts' torch estimator): one global network trained on every series, forecasting by
sample paths. Training is :mod:`forecast.training`; sampling is :mod:`forecast.inference`."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from forecast.config import ResolvedConfig
from forecast.data import Entry, truncate
from forecast.models.base import Algorithm, EpochCallback, FitContext, Model, Prediction
from forecast.sampling import Precision

if TYPE_CHECKING:
    from forecast.training import TrainedNetwork

TRAINING_FILE = "training.json"
#: :meth:`DeepARAlgorithm.update` trains on at this fraction of the training's learning rate.
UPDATE_LEARNING_RATE_FACTOR = 0.1


class DeepARModel(Model):
    algorithm: ClassVar[str] = "deepar"

    def __init__(self, predictor: Any, cfg: ResolvedConfig, training: dict[str, Any] | None = None,
                 precision: Precision = "auto") -> None:
        self.predictor = predictor  # gluonts PyTorchPredictor
        self.cfg = cfg
        self.training = training or {}
        self.decode_precision: Precision = precision

    @property
    def precision(self) -> str:
        from forecast.inference import sampler_for

        return sampler_for(self.predictor, self.decode_precision).precision

    def use_precision(self, precision: Precision) -> None:
        self.decode_precision = precision

    def predict(self, entries: Sequence[Entry], levels: Sequence[float], *, num_samples: int, seed: int | None = None,
                want_samples: bool = False, threads: int | None = None, members: bool = False) -> Iterator[Prediction]:
        import torch

        from forecast.inference import iter_samples, summarize

        if seed is not None:  # a job that owns the process: the same predictor and data give the same forecast
            torch.manual_seed(seed)
        for b in iter_samples(self.predictor, entries, num_samples=num_samples, precision=self.decode_precision,
                              threads=threads, reduce=lambda samples: summarize(samples, levels),
                              seeded=seed is not None):
            q, mean = b.reduced
            yield Prediction(item_ids=b.item_ids, forecast_start=b.forecast_start, quantiles=q, mean=mean,
                             samples=b.samples if want_samples else None)

    def save(self, folder: Path) -> None:
        self.predictor.serialize(folder)
        (folder / TRAINING_FILE).write_text(json.dumps(self.training))

    @classmethod
    def load(cls, folder: Path, cfg: ResolvedConfig) -> DeepARModel:
        from gluonts.model.predictor import Predictor

        with warnings.catch_warnings():  # pandas alias deprecations inside gluonts, torch RNN notes
            warnings.simplefilter("ignore")
            predictor = Predictor.deserialize(folder, device="cpu")
        training = json.loads((folder / TRAINING_FILE).read_text()) if (folder / TRAINING_FILE).exists() else {}
        return cls(predictor, cfg, training)

    def describe(self) -> dict[str, Any]:
        return self.training


class DeepARAlgorithm(Algorithm):
    name: ClassVar[str] = "deepar"
    uses_features: ClassVar[bool] = True

    def fit(self, entries: list[Entry], ctx: FitContext, *, keep_fits: bool = True) -> DeepARModel:
        hp = self.cfg.hp
        entries = truncate(entries, 0)  # training sees features up to each target's end (callers may pass more)
        use_validation = hp.early_stopping_patience is not None
        fit_on = truncate(entries, self.cfg.prediction_length, min_length=1) if use_validation else entries
        ctx.phase("training")
        trained = _train(self.cfg, ctx, train=fit_on, validation=entries if use_validation else None,
                         on_epoch=ctx.on_epoch)
        training = {
            "epochs_run": len(trained.history),
            "best_epoch": trained.best_epoch,
            "weights_from_epochs": list(trained.weights_from),
            "history": [e.model_dump() for e in trained.history],
            "train_seconds": round(trained.seconds, 3),
            "nonnegative_samples": ctx.nonnegative,
            "num_train_series": len(fit_on),
        }
        return DeepARModel(trained.predictor, self.cfg, training)

    def update(self, model: Model, entries: list[Entry], ctx: FitContext) -> DeepARModel:
        """The same network trained on for ``deepar_update_epochs`` epochs over the longer histories,
        at a tenth of the learning rate (weights averaged over the second half of them, as every
        training without a validation split): it learns the newest points and stays close to the
        network the ensemble's weights were chosen for (bench/README.md, "The DeepAR member trained
        on at the backtest origin"). With 0 epochs (the default), the same network."""
        assert isinstance(model, DeepARModel)
        epochs = self.cfg.hp.deepar_update_epochs
        if not epochs:
            return model
        ctx.phase("training on the newest points")
        started = time.perf_counter()
        hp = self.cfg.hp.model_copy(update={"learning_rate": self.cfg.hp.learning_rate * UPDATE_LEARNING_RATE_FACTOR})
        more = _train(self.cfg.model_copy(update={"hp": hp}), ctx, train=truncate(entries, 0), validation=None,
                      max_epochs=epochs, on_epoch=None, start_from=model.predictor)
        update = {"epochs": epochs, "num_train_series": len(entries), "seconds": round(time.perf_counter() - started, 3)}
        return DeepARModel(more.predictor, self.cfg, {**model.training, "updates": [*model.training.get("updates", []), update]},
                           model.decode_precision)

    def finalize(self, model: Model, entries: list[Entry], ctx: FitContext) -> DeepARModel:
        assert isinstance(model, DeepARModel)
        if not self.cfg.hp.refit:
            # an auto member that trained on at the backtest origin trains on to the final one too, so
            # the final forecasts come from the procedure the backtest measured (no-op at 0 epochs,
            # which DeepAR alone always has)
            return self.update(model, entries, ctx)
        ctx.phase("refit")
        started = time.perf_counter()
        final = _train(self.cfg, ctx, train=entries, validation=None, max_epochs=model.training["best_epoch"],
                       on_epoch=None)
        return DeepARModel(final.predictor, self.cfg,
                           {**model.training, "refit_seconds": round(time.perf_counter() - started, 3)})


def _train(cfg: ResolvedConfig, ctx: FitContext, *, on_epoch: EpochCallback | None, **kwargs: Any) -> TrainedNetwork:
    """One network trained on ``kwargs`` (:func:`forecast.training.train_network`'s) by the job's
    engine (its epochs reach ``on_epoch`` here, wherever it trains)."""
    from forecast.training import train_network

    kwargs.update(cfg=cfg, nonnegative=ctx.nonnegative, extra_callbacks=ctx.extra_callbacks)
    return ctx.engine.train(train_network, kwargs, on_epoch=on_epoch)  # type: ignore[no-any-return]

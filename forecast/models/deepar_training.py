"""Training DeepAR (:mod:`forecast.training`) on the job's engine: the algorithm side of
:mod:`forecast.models.deepar`, which only forecasts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from forecast.config import ResolvedConfig
from forecast.data import Entry, truncate
from forecast.errors import TrainingError
from forecast.models.base import Algorithm, EpochCallback, FitContext, Model
from forecast.models.deepar import DeepARModel
from forecast.series_source import HeldSeries, Series, SeriesStream

if TYPE_CHECKING:
    from forecast.training import TrainedNetwork

#: :meth:`DeepARAlgorithm.update` trains on at this fraction of the training's learning rate.
UPDATE_LEARNING_RATE_FACTOR = 0.1
#: A retraining that starts from a reference network runs this share of ``epochs`` (at least 1).
#: Chosen on the development suite (bench/README.md, "Week two"): half the epochs from the
#: reference scored 0.953x the mean wQL of training from scratch in half the time; a quarter, 0.995x.
RETRAIN_EPOCH_SHARE = 0.5


def retrain_epochs(epochs: int) -> int:
    """Epochs of a retraining from a reference network (see :data:`RETRAIN_EPOCH_SHARE`)."""
    return max(1, round(epochs * RETRAIN_EPOCH_SHARE))


class DeepARAlgorithm(Algorithm):
    name: ClassVar[str] = "deepar"
    uses_features: ClassVar[bool] = True

    def fit(self, entries: Series, ctx: FitContext, *, keep_fits: bool = True) -> DeepARModel:
        hp = self.cfg.hp
        use_validation = hp.early_stopping_patience is not None
        fit_on = _before(entries, self.cfg.prediction_length) if use_validation else entries
        watch = None if use_validation or ctx.watch is None else training_data(ctx.watch, ctx)
        ctx.phase("training")
        start_from, epochs = None, None
        if isinstance(ctx.reference, DeepARModel):
            start_from, epochs = ctx.reference.predictor, retrain_epochs(hp.epochs)
        try:
            trained = _train(self.cfg, ctx, train=training_data(fit_on, ctx),
                             validation=training_data(entries, ctx) if use_validation else None,
                             on_epoch=ctx.on_epoch, start_from=start_from, max_epochs=epochs, watch=watch)
        except TrainingError as e:
            if start_from is None or "size mismatch" not in str(e):
                raise
            ctx.notes.append("deepar: the reference's network does not fit this data's features (a new category or "
                             "feature); trained from scratch")
            start_from = None
            trained = _train(self.cfg, ctx, train=training_data(fit_on, ctx),
                             validation=training_data(entries, ctx) if use_validation else None,
                             on_epoch=ctx.on_epoch, watch=watch)
        training = {
            "started_from_reference": start_from is not None,
            "epochs_run": len(trained.history),
            "best_epoch": trained.best_epoch,
            "weights_from_epochs": list(trained.weights_from),
            "history": [e.model_dump() for e in trained.history],
            "train_seconds": round(trained.seconds, 3),
            "nonnegative_samples": ctx.nonnegative,
            "num_train_series": _count(fit_on),
        }
        return DeepARModel(trained.predictor, self.cfg, training)

    def update(self, model: Model, entries: Series, ctx: FitContext) -> DeepARModel:
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
        more = _train(self.cfg.model_copy(update={"hp": hp}), ctx, train=training_data(entries, ctx), validation=None,
                      max_epochs=epochs, on_epoch=None, start_from=model.predictor)
        update = {"epochs": epochs, "num_train_series": _count(entries), "seconds": round(time.perf_counter() - started, 3)}
        return DeepARModel(more.predictor, self.cfg, {**model.training, "updates": [*model.training.get("updates", []), update]},
                           model.decode_precision)

    def finalize(self, model: Model, entries: Series, ctx: FitContext) -> DeepARModel:
        assert isinstance(model, DeepARModel)
        if not self.cfg.hp.refit:
            # an auto member that trained on at the backtest origin trains on to the final one too, so
            # the final forecasts come from the procedure the backtest measured (no-op at 0 epochs,
            # which DeepAR alone always has)
            return self.update(model, entries, ctx)
        ctx.phase("refit")
        started = time.perf_counter()
        final = _train(self.cfg, ctx, train=training_data(entries, ctx), validation=None,
                       max_epochs=model.training["best_epoch"], on_epoch=None)
        return DeepARModel(final.predictor, self.cfg,
                           {**model.training, "refit_seconds": round(time.perf_counter() - started, 3)})


def training_data(series: Series, ctx: FitContext) -> list[Entry] | SeriesStream:
    """What the network trains on: series held here as a list (features cut to each target's end),
    or a stream reading a stored dataset a partition (of the job's engine) at a time, each time the
    loader cycles through it (the same series in the same order)."""
    if isinstance(series, list):
        return truncate(series, 0)
    if isinstance(series, HeldSeries):
        return truncate(series.read(0, series.num_items), 0)
    return SeriesStream(series, ctx.engine.partition_items)


def _before(series: Series, drop: int) -> Series:
    return truncate(series, drop, min_length=1) if isinstance(series, list) else series.before(drop)


def _count(series: Series) -> int:
    return len(series) if isinstance(series, list) else series.num_items


def _train(cfg: ResolvedConfig, ctx: FitContext, *, on_epoch: EpochCallback | None, **kwargs: Any) -> TrainedNetwork:
    """One network trained on ``kwargs`` (:func:`forecast.training.train_network`'s) by the job's
    engine (its epochs reach ``on_epoch`` here, wherever it trains)."""
    from forecast.training import train_network

    kwargs.update(cfg=cfg, nonnegative=ctx.nonnegative, extra_callbacks=ctx.extra_callbacks)
    return ctx.engine.train(train_network, kwargs, on_epoch=on_epoch)  # type: ignore[no-any-return]

"""Train a DeepAR network quietly and surface every failure.

gluonts' ``train_model`` catches an exception raised during ``Trainer.fit`` and, when a checkpoint
exists, returns the checkpoint's model as if training had worked. :class:`EpochRecorder` sees the
exception first (Lightning's ``on_exception`` hook), so :func:`train_network` re-raises it as a
:class:`TrainingError`. Non-finite losses stop training the same way.

Which weights are kept: with a validation split, those of the epoch with the lowest validation
loss (gluonts' checkpoint). Without one, gluonts would restore the epoch with the lowest
*training* loss; but an epoch's training loss is the mean over its randomly drawn windows, and
which epoch drew the easiest windows decides it: on Tourism monthly the same seed picked the same
epoch (70, 45, 92 for seeds 0, 1, 2) whatever the context length, learning-rate schedule or
weight decay. With small batches the weights also wander from epoch to epoch, so :class:`TailAverage`
keeps the mean of the weights at the end of each epoch of the second half of training (stochastic
weight averaging, Izmailov et al. 2018). Measured against the other choices in bench/README.md.
"""

from __future__ import annotations

import logging
import math
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping
from pydantic import BaseModel

from forecast.config import ResolvedConfig
from forecast.data import Entry
from forecast.errors import TrainingError
from forecast.estimator import build_estimator
from forecast.inference import read_network

logger = logging.getLogger(__name__)

#: Called after each epoch with (epoch (1-based), max epochs, train loss, validation loss or None).
EpochCallback = Callable[[int, int, float, float | None], None]

_QUIET_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric",
                  "gluonts")


class EpochLoss(BaseModel):
    epoch: int
    train_loss: float
    val_loss: float | None = None


class TrainedNetwork(BaseModel):
    """A trained network, its epochs and which weights it kept. Pickled (to or from a Ray worker)
    its predictor goes through gluonts' own serialization: gluonts makes a class serializable only
    once an instance of it is constructed in the process, and unpickling constructs nothing, so a
    process that never built a network itself could not store one trained elsewhere."""

    model_config = {"arbitrary_types_allowed": True}

    predictor: Any
    history: list[EpochLoss]
    weights_from: tuple[int, int]  # first and last epoch whose weights were kept (averaged when they differ)
    seconds: float

    @property
    def best_epoch(self) -> int:
        """The best validation epoch, else the last epoch: the end of ``weights_from``."""
        return self.weights_from[1]

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        return {**state, "__dict__": {**state["__dict__"], "predictor": predictor_files(self.predictor)}}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        files = state["__dict__"]["predictor"]
        super().__setstate__({**state, "__dict__": {**state["__dict__"], "predictor": predictor_of_files(files)}})


def predictor_files(predictor: Any) -> dict[str, bytes]:
    """A gluonts predictor as the files its ``serialize`` writes."""
    with tempfile.TemporaryDirectory(prefix="forecast-net-") as folder:
        predictor.serialize(Path(folder))
        return {f.name: f.read_bytes() for f in Path(folder).iterdir()}


def predictor_of_files(files: dict[str, bytes]) -> Any:
    """The gluonts predictor :func:`predictor_files` wrote (on the CPU)."""
    with tempfile.TemporaryDirectory(prefix="forecast-net-") as folder:
        for name, data in files.items():
            (Path(folder) / name).write_bytes(data)
        return read_network(Path(folder))


class EpochRecorder(pl.Callback):
    """Records per-epoch losses, reports them, and keeps the first exception raised in training."""

    def __init__(self, on_epoch: EpochCallback | None, max_epochs: int) -> None:
        self.on_epoch = on_epoch
        self.max_epochs = max_epochs
        self.history: list[EpochLoss] = []
        self.exception: BaseException | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        train = float(metrics["train_loss"]) if "train_loss" in metrics else math.nan
        val = float(metrics["val_loss"]) if "val_loss" in metrics else None
        epoch = trainer.current_epoch + 1
        self.history.append(EpochLoss(epoch=epoch, train_loss=train, val_loss=val))
        if not math.isfinite(train) or (val is not None and not math.isfinite(val)):
            raise TrainingError(f"the loss became non-finite at epoch {epoch} (train {train}, validation {val}); "
                                "try a lower learning_rate or another likelihood")
        if self.on_epoch is not None:
            self.on_epoch(epoch, self.max_epochs, train, val)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self.exception is None:
            self.exception = exception


class TailAverage(pl.Callback):
    """Running mean of the weights at the end of epochs ``first`` .. the last one trained."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.count = 0
        self.mean: dict[str, torch.Tensor] = {}

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch + 1 < self.first:
            return
        self.count += 1
        with torch.no_grad():
            for name, value in pl_module.state_dict().items():
                if name not in self.mean or not value.is_floating_point():
                    self.mean[name] = value.detach().clone()
                else:
                    self.mean[name] += (value.detach() - self.mean[name]) / self.count


@contextmanager
def quiet_training() -> Iterator[None]:
    """No Lightning banners, summaries, checkpoint chatter or library warnings (restored after)."""
    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    try:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(max(logging.WARNING, levels[name]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def train_network(
    cfg: ResolvedConfig,
    train: Iterable[Entry],
    validation: Iterable[Entry] | None,
    *,
    max_epochs: int | None = None,
    nonnegative: bool = False,
    on_epoch: EpochCallback | None = None,
    extra_callbacks: list[pl.Callback] | None = None,
    start_from: Any | None = None,
    watch: Iterable[Entry] | None = None,
) -> TrainedNetwork:
    """Fit one network; with ``validation``, stop early on its loss and keep the best weights,
    otherwise keep the mean weights of the second half of training (see the module docstring).
    ``watch`` (without ``validation``): histories whose last ``prediction_length`` points each
    epoch's validation loss is computed on (reaching ``on_epoch``), without choosing weights by it.
    ``start_from``: a trained predictor of the same settings whose weights training continues from
    (else they start at random).

    Raises
    ------
    TrainingError
        Anything raised inside the training loop, including non-finite losses.
    """
    hp = cfg.hp
    epochs = max_epochs or hp.epochs
    recorder = EpochRecorder(on_epoch, epochs)
    average = TailAverage(first=epochs // 2 + 1) if validation is None else None
    callbacks: list[pl.Callback] = [recorder, *([average] if average else []), *(extra_callbacks or [])]
    if validation is not None and hp.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(monitor="val_loss", mode="min", patience=hp.early_stopping_patience))
    pl.seed_everything(hp.seed, workers=True, verbose=False)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="forecast-train-") as run_dir, quiet_training():
        estimator = build_estimator(
            cfg,
            nonnegative=nonnegative,
            trainer_kwargs={
                "max_epochs": epochs,
                "accelerator": "cpu",
                "devices": 1,
                "default_root_dir": run_dir,
                "logger": False,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "callbacks": callbacks,
                "deterministic": True,
            },
        )
        previous_sigint = signal.getsignal(signal.SIGINT)
        try:
            out = estimator.train_model(training_data=train, validation_data=validation if validation is not None else watch,
                                        cache_data=isinstance(train, list),  # a stream is read again each cycle
                                        from_predictor=start_from)
        except SystemExit as e:  # Lightning turns Ctrl-C into sys.exit(1) after ignoring SIGINT
            if isinstance(recorder.exception, KeyboardInterrupt):
                raise KeyboardInterrupt from e
            raise
        except TrainingError:
            raise
        except Exception as e:
            raise TrainingError(f"training failed: {type(e).__name__}: {e}") from e
        finally:
            signal.signal(signal.SIGINT, previous_sigint)
        if recorder.exception is not None:
            e = recorder.exception
            if isinstance(e, KeyboardInterrupt):
                raise e
            if isinstance(e, TrainingError):
                raise e
            raise TrainingError(f"training failed: {type(e).__name__}: {e}") from e
        if not recorder.history:
            raise TrainingError("training ran no epoch")
    history = recorder.history
    if average is None:
        best = min(history, key=lambda h: h.val_loss if h.val_loss is not None else math.inf).epoch
        weights_from = (best, best)
    else:
        if not average.count:
            raise TrainingError("training ended before the epochs whose weights are averaged")
        out.predictor.prediction_net.load_state_dict(average.mean)
        weights_from = (average.first, history[-1].epoch)
    return TrainedNetwork(predictor=out.predictor, history=history, weights_from=weights_from,
                          seconds=time.perf_counter() - started)

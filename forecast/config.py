"""Predictor hyperparameters: the algorithm, the horizon and backtest, and each algorithm's options
(DeepAR's with the names users know from managed DeepAR services).

One frozen pydantic model; it is stored verbatim with each predictor so every artifact says how it
was made. Options that belong to one algorithm are refused for the others. Values that depend on the data (``cardinality``, ``num_dynamic_feat``,
``context_length``) are resolved against the dataset by :func:`resolve`.

What an epoch means here: ``num_batches_per_epoch`` mini-batches, each of ``mini_batch_size``
training windows drawn at random series and random positions (gluonts' instance sampler). It is
*not* a pass over the data; a pass over 366 series with batch 32 would be 12 batches.

Where the defaults differ from the usual DeepAR-service values (``mini_batch_size`` 32 rather than
128, 50 batches per epoch, ``context_length`` capped below the horizon), they were chosen by
measurement on the Tourism competition; bench/README.md has every run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Likelihood = Literal["student-T", "gaussian", "negative-binomial", "beta"]
Algorithm = Literal["auto", "deepar", "ets", "theta", "arima", "ces", "npts", "seasonal_naive", "chronos",
                    "croston", "sba", "tsb", "adida", "imapa"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
#: The per-series models for intermittent demand (statsforecast: Croston, its SBA correction, TSB,
#: ADIDA, IMAPA), forecast as a count distribution around their rate.
INTERMITTENT: tuple[str, ...] = ("croston", "sba", "tsb", "adida", "imapa")
#: The per-series statistical models (statsforecast).
STATISTICAL: tuple[str, ...] = ("ets", "theta", "arima", "ces", "seasonal_naive", *INTERMITTENT)
#: How a hierarchy's base forecasts are made coherent (forecast/reconcile.py).
ReconcileMethod = Literal["bottom-up", "top-down", "mint-shrink", "mint-ols", "wls-struct"]
RECONCILE_METHODS: tuple[str, ...] = get_args(ReconcileMethod)
#: What ``auto`` combines unless ``members`` says otherwise (chosen on the suite: bench/README.md).
DEFAULT_MEMBERS: tuple[str, ...] = ("deepar", "ets", "theta", "ces")
#: What ``auto``'s weight selection scores on the validation window, each metric relative to seasonal
#: naive's there: mean wQL and MASE together by default (the distribution and the point forecast),
#: or one metric (a managed auto predictor's ``OptimizationMetric``).
SelectionMetric = Literal["wql+mase", "wql", "mase", "wape", "rmse", "mape"]
SELECTION_METRICS: tuple[str, ...] = get_args(SelectionMetric)


def one_of(choices: tuple[str, ...]) -> str:
    """The choices as a phrase for help texts: ``a, b or c``."""
    return f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else "".join(choices)

#: Options that only DeepAR (alone or as a member of ``auto``) uses.
DEEPAR_OPTIONS = ("context_length", "epochs", "num_batches_per_epoch", "mini_batch_size", "learning_rate",
                  "num_cells", "num_layers", "likelihood", "dropout_rate", "embedding_dimension", "cardinality",
                  "num_dynamic_feat", "early_stopping_patience")

#: Options of the pretrained models (``chronos``, alone or as a member of ``auto``).
PRETRAINED_OPTIONS = ("model_path",)

#: Options of a hierarchical predictor (any algorithm).
HIERARCHY_OPTIONS = ("hierarchy", "hierarchy_file", "reconcile")

#: Options of algorithm ``auto`` alone.
AUTO_OPTIONS = ("members", "deepar_update_epochs", "selection_metric", "intermittent_members")

DEFAULT_TEST_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

#: The default context is never shorter than this (or the horizon, when that is shorter).
MIN_DEFAULT_CONTEXT = 8


#: Seasonal periods where forecasting practice (the M4 and Monash benchmarks, R's ``frequency``,
#: fev) differs from gluonts' table, which gives daily and weekly data 1 and so turns the
#: "seasonal" naive baseline and MASE's scale into last-value naive for them.
PRACTICE_SEASONALITY = {"D": 7, "W": 52}


def seasonal_period(freq: str) -> int:
    """Seasonal period of a frequency: yearly 1, quarterly 4, monthly 12, weekly 52, daily 7,
    business-daily 5, hourly 24, half-hourly 48, 15-minute 96, minutely 1440. A multiple of a base
    frequency divides the period when it can (``2h`` 12, ``3D`` 1). Used by MASE, the seasonal-naive
    baseline and the default context length."""
    import warnings

    import pandas as pd
    from gluonts.time_feature import get_seasonality

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        offset = pd.tseries.frequencies.to_offset(freq)
        base = offset.name.split("-")[0]
        if base in PRACTICE_SEASONALITY:
            period = PRACTICE_SEASONALITY[base]
            return period // offset.n if period % offset.n == 0 else 1
        return int(get_seasonality(freq))


def season_length(cfg: ResolvedConfig) -> int:
    """The statistical models' seasonal period: ``season_length`` if given, else the frequency's."""
    return cfg.hp.season_length or seasonal_period(cfg.freq)


def default_context_length(prediction_length: int, freq: str) -> int:
    """``prediction_length``, but at most ``max(8, ceil(1.25 x seasonal period))``.

    The RNN sees older history anyway through its lag features (up to three seasons back), so a
    long unroll buys little; on Tourism monthly (horizon 24) a context of 15 beat 24 on every seed
    (mean MASE 1.412 vs 1.435, wQL 0.077 vs 0.084), while contexts of 5-6 were worse on both sets
    (the network needs a few steps to settle). 1.25 seasons is the input window Monash's benchmark
    (after Hewamalage et al.) gives recurrent models; 8 steps is the floor that kept quarterly
    (horizon 8) at its best. With :func:`seasonal_period`: monthly 15, quarterly 8, hourly 30,
    half-hourly 60, daily 9, weekly 65, yearly 8; never more than the horizon.
    """
    return min(prediction_length, max(MIN_DEFAULT_CONTEXT, math.ceil(1.25 * seasonal_period(freq))))


def cast_text(name: str, text: str) -> Any:
    """A hyperparameter given as text, as pydantic should read it: a JSON list as a list, and for
    a field that takes a list, comma-separated values as one (``members``: ``deepar,ets``;
    ``test_quantiles``: ``0.1,0.5,0.9``; ``cardinality``: ``3,12``, but ``auto`` stays a word).
    Numbers and booleans stay text: pydantic reads ``"40"``, ``"1e-3"`` and ``"true"`` itself."""
    text = text.strip()
    field = Hyperparameters.model_fields.get(name)
    if field is None:
        return text  # unknown names are refused by the model, naming them
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    annotation = field.annotation
    arms = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    if any(get_origin(a) is list for a in arms):
        words = {w for a in arms if get_origin(a) is Literal for w in get_args(a)}
        if text not in words:
            return [t.strip() for t in text.split(",") if t.strip()]
    return text


def parse_hierarchy(text: str) -> list[list[str]]:
    """``"state/region * purpose"`` as its groups of nested names (``[["state", "region"], ["purpose"]]``).

    Raises
    ------
    ValueError
        An empty name or group, or a name given twice.
    """
    groups = [[n.strip() for n in g.split("/")] for g in text.split("*")]
    for g in groups:
        if any(not n for n in g):
            raise ValueError(f"hierarchy {text!r} has an empty name: write names separated by '/' (nested) "
                             "and '*' (crossed), such as 'state/region * purpose'")
    names = [n for g in groups for n in g]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"hierarchy {text!r} names {', '.join(repeated)} more than once")
    return groups


class Hyperparameters(BaseModel):
    """Hyperparameters of ``forecast predictors create`` (and ``--hyperparameters FILE.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    algorithm: Algorithm = Field("auto", description=f"{one_of(ALGORITHMS)}; auto (the default) combines several by weights chosen on a validation window")
    members: list[Algorithm] = Field(default_factory=lambda: list(DEFAULT_MEMBERS), description="auto only: the algorithms it combines")
    intermittent_members: list[Algorithm] = Field(default_factory=lambda: list(INTERMITTENT), description="auto only: further candidates for the intermittent and lumpy series (ADI / CV^2), whose weights are chosen on those series alone; the others keep members; empty: none")
    deepar_update_epochs: Annotated[int, Field(ge=0, le=1000, description="auto only: epochs the DeepAR member trains on from its own weights over the longer histories at the backtest origin and again for the final forecasts, at a tenth of the learning rate; 0 (default) forecasts from them with the network trained before the validation window")] = 0
    selection_metric: SelectionMetric = Field("wql+mase", description="auto only: what the weights are chosen to minimise on the validation window, relative to "
                                                     f"seasonal naive: {one_of(SELECTION_METRICS)}")
    season_length: Annotated[int | None, Field(ge=1, le=10_000, description="statistical models' seasonal period", json_schema_extra={"default_text": "from the frequency (monthly 12, daily 7, ...)"})] = None

    prediction_length: Annotated[int, Field(ge=1, le=400, description="forecast horizon in time steps")]
    context_length: Annotated[int | None, Field(ge=1, le=2000, description="steps the RNN is unrolled over before forecasting", json_schema_extra={"default_text": "prediction_length, at most max(8, 1.25 seasons)"})] = None
    time_freq: str | None = Field(None, description="the data's frequency, checked against the dataset's", json_schema_extra={"default_text": "the dataset's"})
    epochs: Annotated[int, Field(ge=1, le=1000, description="maximum epochs")] = 100
    num_batches_per_epoch: Annotated[int, Field(ge=1, le=10_000, description="mini-batches per epoch (an epoch is not a pass over the data)")] = 50
    mini_batch_size: Annotated[int, Field(ge=1, le=4096, description="training windows per mini-batch")] = 32
    learning_rate: Annotated[float, Field(gt=0, le=1, description="Adam's learning rate")] = 1e-3
    num_cells: Annotated[int, Field(ge=1, le=512, description="LSTM cells per layer")] = 40
    num_layers: Annotated[int, Field(ge=1, le=8, description="LSTM layers")] = 2
    likelihood: Likelihood = Field("student-T", description="the output distribution: student-T, gaussian, negative-binomial (counts) or beta (values in (0, 1))")
    dropout_rate: Annotated[float, Field(ge=0, lt=1, description="dropout between LSTM layers")] = 0.1
    embedding_dimension: Annotated[int, Field(ge=1, le=100, description="size of each cat embedding")] = 10
    cardinality: Literal["auto", "ignore"] | list[Annotated[int, Field(ge=1)]] = Field("auto", description="categories of each cat feature: auto (from the data), ignore, or the counts")
    num_dynamic_feat: Literal["auto", "ignore"] | Annotated[int, Field(ge=0, le=1000)] = Field("auto", description="dynamic features to use: auto (all the data has), ignore, or the count")
    early_stopping_patience: Annotated[int | None, Field(ge=1, le=1000, description="epochs without validation improvement before stopping (holds out a validation window); 0 or none: trains all epochs on all data before the backtest window", json_schema_extra={"default_text": "off"})] = None
    num_eval_samples: Annotated[int, Field(ge=1, le=1000, description="sample paths DeepAR draws for the backtest and the forecasts")] = 100
    test_quantiles: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default_factory=lambda: list(DEFAULT_TEST_QUANTILES), description="quantiles scored in the backtest")
    backtest_windows: Annotated[int, Field(ge=1, le=10, description="held-out windows of prediction_length at the end of every series")] = 1
    refit: bool = Field(False, description="after the backtest, retrain on the full history for the best epoch count")
    seed: int = Field(0, description="the seed of training and sampling: the same seed, data and machine give the same predictor")
    hierarchy: Annotated[str | None, Field(min_length=1, max_length=500, description="aggregate the dataset's series along its key columns and reconcile: nested names with '/', crossed ones with '*' ('state/region * purpose'); node ids are paths such as state=Victoria/region=Melbourne, the root __total__", json_schema_extra={"default_text": "none"})] = None
    hierarchy_file: Annotated[str | None, Field(min_length=1, max_length=2000, description="instead of hierarchy: a summing-matrix CSV (header node,<series key>,...; a row of 0/1 per aggregate node), a path or fsspec URL", json_schema_extra={"default_text": "none"})] = None
    reconcile: ReconcileMethod | None = Field(None, description=f"how the nodes' forecasts are made coherent: {one_of(RECONCILE_METHODS)}", json_schema_extra={"default_text": "mint-shrink with a hierarchy"})
    model_path: Annotated[str | None, Field(min_length=1, max_length=2000, description="chronos only: the pretrained model's folder or fsspec URL (config.json and model.safetensors of a Chronos-Bolt or Chronos-2 model, downloaded once by you)", json_schema_extra={"default_text": "FORECAST_CHRONOS_MODEL"})] = None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Hyperparameters:
        """Validate hyperparameters from any surface: typed values (JSON, YAML, an HTTP body) or
        text (command-line flags, SageMaker-style ``TrainingParameters``), cast the same way
        (:func:`cast_text`)."""
        return cls.model_validate({k: cast_text(k, v) if isinstance(v, str) else v for k, v in values.items()})

    @field_validator("early_stopping_patience", mode="before")
    @classmethod
    def _zero_is_off(cls, v: object) -> object:
        return None if v in (0, "0") else v

    @field_validator("likelihood", mode="before")
    @classmethod
    def _likelihood_aliases(cls, v: object) -> object:
        if isinstance(v, str):
            key = v.strip().lower().replace("_", "-")
            aliases = {"student-t": "student-T", "studentt": "student-T", "t": "student-T",
                       "gaussian": "gaussian", "normal": "gaussian",
                       "negative-binomial": "negative-binomial", "negbin": "negative-binomial",
                       "beta": "beta"}
            if key in aliases:
                return aliases[key]
        return v

    @field_validator("intermittent_members")
    @classmethod
    def _intermittent_members_valid(cls, v: list[str]) -> list[str]:
        other = [m for m in v if m not in STATISTICAL]
        if other:
            raise ValueError(f"intermittent_members takes per-series models ({one_of(STATISTICAL)}), not "
                             f"{', '.join(other)}")
        if len(set(v)) != len(v):
            raise ValueError(f"intermittent_members must be distinct, got {v}")
        return v

    @field_validator("members")
    @classmethod
    def _members_valid(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one member")
        if "auto" in v:
            raise ValueError("auto cannot be a member of itself")
        if len(set(v)) != len(v):
            raise ValueError(f"members must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _options_fit_algorithm(self) -> Hyperparameters:
        """An option another algorithm uses is an error, not silently ignored (compared with the
        default, so a stored, fully written-out set of values reads back)."""
        fields = type(self).model_fields
        changed = [f for f in self.model_fields_set if getattr(self, f) != fields[f].get_default(call_default_factory=True)]
        uses_deepar = self.algorithm == "deepar" or (self.algorithm == "auto" and "deepar" in self.members)
        statistical = self.algorithm in STATISTICAL or (self.algorithm == "auto" and set(self.members) & set(STATISTICAL))
        for f in changed:
            if f in DEEPAR_OPTIONS and not uses_deepar:
                raise ValueError(f"{f} is a DeepAR option; algorithm {self.algorithm!r} does not use it")
            if f in ("members", "selection_metric", "intermittent_members") and self.algorithm != "auto":
                raise ValueError(f"{f} is an option of algorithm 'auto', not {self.algorithm!r}")
            if f == "deepar_update_epochs" and not (self.algorithm == "auto" and uses_deepar):
                raise ValueError("deepar_update_epochs is an option of algorithm 'auto' with a deepar member")
            if f == "model_path" and not self.uses_chronos:
                raise ValueError(f"model_path is an option of algorithm 'chronos' (alone or as a member of auto); "
                                 f"algorithm {self.algorithm!r} does not use it")
            if f == "reconcile" and not self.hierarchical:
                raise ValueError("reconcile needs a hierarchy (hierarchy or hierarchy_file)")
            if f == "season_length" and not statistical:
                raise ValueError(f"season_length is an option of the statistical models; algorithm {self.algorithm!r} does not use it")
        return self

    @model_validator(mode="after")
    def _one_hierarchy(self) -> Hyperparameters:
        if self.hierarchy and self.hierarchy_file:
            raise ValueError("give hierarchy or hierarchy_file, not both")
        if self.hierarchy:
            groups = parse_hierarchy(self.hierarchy)
            if self.reconcile == "top-down" and len(groups) > 1:
                raise ValueError(f"top-down needs a strict hierarchy (a tree); {self.hierarchy!r} is crossed ('*'): "
                                 "use mint-shrink, mint-ols, wls-struct or bottom-up")
        if self.reconcile == "top-down" and self.hierarchy_file:
            raise ValueError("top-down needs the levels of a --hierarchy; a summing-matrix file has none: use "
                             "mint-shrink, mint-ols, wls-struct or bottom-up")
        if self.hierarchical:
            lv = [round(t, 6) for t in self.test_quantiles]
            if not any(round(1 - t, 6) in lv for t in lv if t < 0.5):
                raise ValueError(f"a hierarchy's quantiles are reconciled from a symmetric pair of test_quantiles "
                                 f"(such as 0.1 and 0.9); got {self.test_quantiles}")
        return self

    @property
    def hierarchical(self) -> bool:
        """A hierarchy is given: every node is forecast and the forecasts reconciled."""
        return bool(self.hierarchy or self.hierarchy_file)

    @property
    def reconcile_method(self) -> str:
        """The reconciliation in force (mint-shrink unless chosen)."""
        return self.reconcile or "mint-shrink"

    @property
    def uses_deepar(self) -> bool:
        return self.algorithm == "deepar" or (self.algorithm == "auto" and "deepar" in self.members)

    @property
    def all_members(self) -> list[str]:
        """auto's candidates: ``members``, then the ``intermittent_members`` not among them."""
        return [*self.members, *(m for m in self.intermittent_members if m not in self.members)]

    @property
    def uses_chronos(self) -> bool:
        return self.algorithm == "chronos" or (self.algorithm == "auto" and "chronos" in self.members)

    @property
    def uses_dynamic_features(self) -> bool:
        """DeepAR (alone or in ``auto``), AutoARIMA alone (as exogenous regressors) and Chronos-2
        (``chronos``, as covariates; Chronos-Bolt ignores them, saying so) use time series
        features; the other models forecast each series from its own history."""
        return self.uses_deepar or self.algorithm == "arima" or self.uses_chronos

    @field_validator("test_quantiles")
    @classmethod
    def _sorted_unique(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one test quantile")
        if len(set(v)) != len(v):
            raise ValueError(f"test quantiles must be distinct, got {v}")
        return sorted(v)


def option_group(field: str) -> str:
    """Which algorithms a hyperparameter belongs to: ``all``, ``auto``, ``DeepAR``, ``chronos``,
    ``hierarchy`` (any algorithm, with a hierarchy) or ``statistical``."""
    if field in DEEPAR_OPTIONS:
        return "DeepAR"
    if field in AUTO_OPTIONS:
        return "auto"
    if field in PRETRAINED_OPTIONS:
        return "chronos"
    if field in HIERARCHY_OPTIONS:
        return "hierarchy"
    return "statistical" if field == "season_length" else "all"


def hyperparameter_table() -> str:
    """The hyperparameters as a Markdown table (docs/predictors.md holds it; a test keeps the two
    the same): ``python -m forecast.config`` prints it."""
    rows = ["| hyperparameter | applies to | default | meaning |", "|---|---|---|---|"]
    for name, info in Hyperparameters.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if info.is_required():
            default = "required"
        elif "default_text" in extra:
            default = str(extra["default_text"])
        else:
            value = info.get_default(call_default_factory=True)
            default = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        rows.append(f"| `{name}` | {option_group(name)} | {default} | {info.description or ''} |")
    return "\n".join(rows) + "\n"


class DataFacts(BaseModel):
    """What training needs to know about a dataset, gathered in one pass."""

    num_series: int
    lengths_min: int
    lengths_max: int
    target_min: float
    target_max: float
    target_integer: bool = False
    cat_cardinalities: list[int]
    num_dynamic_feat: int
    num_static_real: int = 0
    freq: str


class ResolvedConfig(BaseModel):
    """Hyperparameters with every data-dependent value fixed (what the estimator is built from)."""

    model_config = ConfigDict(frozen=True)

    freq: str
    prediction_length: int
    context_length: int
    cardinality: list[int]
    embedding_dimension: list[int]
    num_dynamic_feat: int
    num_static_real: int = 0
    hp: Hyperparameters


def resolve(hp: Hyperparameters, facts: DataFacts) -> ResolvedConfig:
    """Check ``hp`` against the data and fix the data-dependent values.

    Raises
    ------
    HyperparameterError
        With the reason: likelihood vs target range, cardinality or feature count vs the data,
        series too short for context plus horizon.
    """
    from forecast.errors import HyperparameterError

    if hp.time_freq is not None:
        from datasets.frequency import normalize_freq

        if normalize_freq(hp.time_freq) != facts.freq:
            raise HyperparameterError(
                f"time_freq {hp.time_freq!r} does not match the dataset's frequency {facts.freq!r}; leave it out to use the dataset's"
            )
    context = hp.context_length if hp.context_length is not None else default_context_length(hp.prediction_length, facts.freq)
    needed = hp.prediction_length * (hp.backtest_windows + 1) + 1
    if facts.lengths_max < needed:
        raise HyperparameterError(
            f"every series is too short: the longest has {facts.lengths_max} points, but holding out "
            f"{hp.backtest_windows} backtest window(s) of prediction_length={hp.prediction_length} and "
            f"training on at least one more window needs {needed}; lower prediction_length or backtest_windows"
        )
    explicit = hp.algorithm == "deepar" or (hp.uses_deepar and hp.context_length is not None)
    if explicit and facts.lengths_max < context + hp.prediction_length * (hp.backtest_windows + 1):
        raise HyperparameterError(
            f"every series is shorter than context_length + prediction_length x (backtest_windows + 1) = "
            f"{context} + {hp.prediction_length} x {hp.backtest_windows + 1}; the longest has {facts.lengths_max} "
            "points; lower context_length or prediction_length"
        )
    if hp.likelihood == "beta" and not (facts.target_min > 0 and facts.target_max < 1):
        raise HyperparameterError(
            f"likelihood 'beta' needs every target value in (0, 1); the data spans "
            f"[{facts.target_min:g}, {facts.target_max:g}]"
        )
    if hp.likelihood == "negative-binomial" and facts.target_min < 0:
        raise HyperparameterError(
            f"likelihood 'negative-binomial' needs non-negative targets; the data has {facts.target_min:g}"
        )
    if hp.likelihood == "negative-binomial" and not facts.target_integer:
        raise HyperparameterError(
            "likelihood 'negative-binomial' is for counts and needs whole-number targets; the data has fractions "
            "(use student-T or gaussian)"
        )
    if not hp.uses_deepar:  # the other algorithms forecast each series from its own history
        cardinality: list[int] = []
    elif hp.cardinality == "ignore":
        cardinality = []
    elif hp.cardinality == "auto":
        cardinality = list(facts.cat_cardinalities)
    else:
        cardinality = list(hp.cardinality)
        if len(cardinality) != len(facts.cat_cardinalities):
            raise HyperparameterError(
                f"cardinality has {len(cardinality)} entries but the data has {len(facts.cat_cardinalities)} cat features"
            )
        for i, (given, seen) in enumerate(zip(cardinality, facts.cat_cardinalities, strict=True)):
            if given < seen:
                raise HyperparameterError(
                    f"cardinality[{i}] = {given} but the data has cat values up to {seen - 1}; it must be at least {seen}"
                )
    if not hp.uses_dynamic_features or hp.num_dynamic_feat == "ignore":
        num_dynamic_feat = 0
    elif hp.num_dynamic_feat == "auto":
        num_dynamic_feat = facts.num_dynamic_feat
    else:
        num_dynamic_feat = int(hp.num_dynamic_feat)
        if num_dynamic_feat != facts.num_dynamic_feat:
            raise HyperparameterError(
                f"num_dynamic_feat = {num_dynamic_feat} but the data has {facts.num_dynamic_feat} dynamic features"
            )
    return ResolvedConfig(
        freq=facts.freq,
        prediction_length=hp.prediction_length,
        context_length=context,
        cardinality=cardinality,
        embedding_dimension=[hp.embedding_dimension] * len(cardinality),
        num_dynamic_feat=num_dynamic_feat,
        num_static_real=facts.num_static_real if hp.uses_deepar else 0,
        hp=hp,
    )


if __name__ == "__main__":
    print(hyperparameter_table(), end="")

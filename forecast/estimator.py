"""The only place that builds gluonts' torch ``DeepAREstimator`` from our configuration."""

from __future__ import annotations

from typing import Any

from gluonts.torch.distributions import (
    BetaOutput,
    NegativeBinomialOutput,
    NormalOutput,
    StudentTOutput,
)
from gluonts.torch.model.deepar import DeepAREstimator

from forecast.config import ResolvedConfig

LIKELIHOODS = {
    "student-T": StudentTOutput,
    "gaussian": NormalOutput,
    "negative-binomial": NegativeBinomialOutput,
    "beta": BetaOutput,
}


def build_estimator(
    cfg: ResolvedConfig, *, trainer_kwargs: dict[str, Any], nonnegative: bool = False
) -> DeepAREstimator:
    hp = cfg.hp
    return DeepAREstimator(
        freq=cfg.freq,
        prediction_length=cfg.prediction_length,
        context_length=cfg.context_length,
        num_layers=hp.num_layers,
        hidden_size=hp.num_cells,
        lr=hp.learning_rate,
        dropout_rate=hp.dropout_rate,
        num_feat_dynamic_real=cfg.num_dynamic_feat,
        num_feat_static_cat=len(cfg.cardinality),
        num_feat_static_real=cfg.num_static_real,
        cardinality=cfg.cardinality or None,
        embedding_dimension=cfg.embedding_dimension or None,
        distr_output=LIKELIHOODS[hp.likelihood](),
        num_parallel_samples=hp.num_eval_samples,
        batch_size=hp.mini_batch_size,
        num_batches_per_epoch=hp.num_batches_per_epoch,
        trainer_kwargs=trainer_kwargs,
        nonnegative_pred_samples=nonnegative,
    )

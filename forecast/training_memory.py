"""How much memory DeepAR's training needs, estimated before it starts, and the check that
refuses a configuration over the limit (instead of the machine running out of memory)."""

from __future__ import annotations

from forecast.config import ResolvedConfig


def physical_memory_bytes() -> int | None:
    """This machine's RAM, or ``None`` where the OS does not say."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def estimate_training_bytes(cfg: ResolvedConfig) -> int:
    """A generous estimate of DeepAR training memory: the parameters with their gradients and two
    Adam moments (4 copies), and one mini-batch's activations kept for the backward pass (LSTM
    gates and states of every layer and step, the input features, the lag window), float32, plus
    the process baseline (torch, lightning, the data). Errs on the high side."""
    import warnings

    from gluonts.time_feature import get_lags_for_frequency, time_features_from_frequency_str

    hp = cfg.hp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lags = get_lags_for_frequency(cfg.freq)
        n_time = len(time_features_from_frequency_str(cfg.freq))
    embedded = sum(cfg.embedding_dimension)
    inputs = len(lags) + n_time + embedded + cfg.num_dynamic_feat + cfg.num_static_real + 3  # + age, scale, observed
    h = hp.num_cells
    params = sum(c * e for c, e in zip(cfg.cardinality, cfg.embedding_dimension, strict=True))
    params += sum(4 * h * ((inputs if layer == 0 else h) + h + 2) for layer in range(hp.num_layers))
    params += h * 4  # distribution head
    steps = cfg.context_length + hp.prediction_length
    per_step = inputs + hp.num_layers * h * 12  # 4 gates, cell and hidden states, dropout masks, grads
    activations = hp.mini_batch_size * steps * per_step * 2  # forward values and backward buffers
    lag_window = hp.mini_batch_size * (max(lags) + steps) * 4
    baseline = 600 * 2**20
    return 4 * (4 * params + activations + lag_window) + baseline


def check_fits_in_memory(cfg: ResolvedConfig, limit_bytes: int | None = None) -> int:
    """The training-memory estimate; raises when it exceeds ``limit_bytes`` (default: 80 % of RAM)."""
    from forecast.errors import HyperparameterError

    estimate = estimate_training_bytes(cfg)
    if limit_bytes is None:
        ram = physical_memory_bytes()
        limit_bytes = int(ram * 0.8) if ram else None
    if limit_bytes is not None and estimate > limit_bytes:
        hp = cfg.hp
        raise HyperparameterError(
            f"training would need about {estimate / 2**30:.1f} GiB, over the limit of {limit_bytes / 2**30:.1f} GiB "
            f"(mini_batch_size={hp.mini_batch_size}, context_length={cfg.context_length}, "
            f"prediction_length={hp.prediction_length}, num_cells={hp.num_cells}, num_layers={hp.num_layers}, "
            f"cardinality={cfg.cardinality} x embedding_dimension={hp.embedding_dimension}); lower some of them"
        )
    return estimate

"""``chronos-forecasting``'s pipelines, loaded once per process and precision and shared by every
predictor using the same weights under the same config (:mod:`forecast.pretrained` finds and checks
the files). Nothing is downloaded: ``HF_HUB_OFFLINE`` is set before ``transformers`` loads."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from forecast.pretrained import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ModelIdentity,
    StorageOptions,
    fetch_model,
    model_error,
    model_store,
    weights_header,
)


def bfloat16_available() -> bool:
    """True when this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_pipelines: dict[tuple[str, str], Any] = {}  # (what the model is, dtype) -> its pipeline
_lock = threading.Lock()


def load_pipeline(identity: ModelIdentity, dtype: str, storage_options: StorageOptions = lambda url: {}) -> Any:
    """``chronos-forecasting``'s pipeline for ``identity``'s weights (checked against its hash) in
    ``dtype`` (``float32`` or ``bfloat16``), loaded once per process and shared."""
    key = (identity.model_dump_json(exclude={"path", "name"}), dtype)  # the same weights under the same config
    with _lock:
        if key not in _pipelines:
            _, folder = fetch_model(identity.path, storage_options, expected=identity.sha256)
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import torch
            from chronos import BaseChronosPipeline
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
            logging.getLogger("chronos").setLevel(logging.ERROR)  # horizons past the model's own: in its notes
            try:
                pipeline = BaseChronosPipeline.from_pretrained(
                    str(folder), device_map="cpu", dtype=torch.bfloat16 if dtype == "bfloat16" else torch.float32)
            except (OSError, ValueError, RuntimeError, KeyError) as e:
                raise model_error(identity.path, f"the weights do not load ({type(e).__name__}: {e})") from None
            fs, root = model_store(str(folder), lambda url: {})
            missing = _not_in_file(pipeline.inner_model, set(weights_header(fs, root, identity.path)))
            if missing:  # transformers would have filled them with random values, silently
                raise model_error(identity.path, f"{WEIGHTS_FILE} does not match {CONFIG_FILE}: {len(missing)} of the "
                                              f"model's tensors are not in it ({', '.join(missing[:3])}, ...)")
            pipeline.inner_model.eval()
            _pipelines[key] = pipeline
        return _pipelines[key]


def _not_in_file(model: Any, names: set[str]) -> list[str]:
    """The model's tensors that the weights file does not hold (tied copies of one it holds, such
    as T5's embeddings, are not missing)."""
    state = model.state_dict()
    held = {t.data_ptr() for name, t in state.items() if name in names}
    return sorted(name for name, t in state.items() if name not in names and t.data_ptr() not in held)

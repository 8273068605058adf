"""Pretrained models' forecast throughput on this CPU, at the published architectures' sizes, against
DeepAR's generation rate on the same items.

    .venv/bin/python bench/pretrained_bench.py [--items 1464] [--sizes bolt-tiny,bolt-mini,bolt-small,bolt-base,chronos-2]

Speed does not depend on the weights' values, so each model is built with random weights of its
published dimensions (chronos-forecasting's own configuration classes: Chronos-Bolt tiny / mini /
small / base as T5 encoder-decoders of d_model 256 / 384 / 512 / 768; Chronos-2 at the 120M
release's dimensions) and saved as a model folder, the way a user's downloaded weights are. Each
is a ``chronos`` predictor on Tourism monthly (366 series, horizon 24, replicated to ``--items``
items), forecast as a forecast job forecasts (``forecast_partition``: quantiles 0.1, 0.5, 0.9 and
the mean), best of ``--repeats``, in float32 and (where the CPU has native bfloat16) bfloat16
(``FORECAST_INFERENCE_PRECISION=float16``).
DeepAR (default architecture, a few epochs: generation cost does not depend on training) forecasts
the same items with 100 sample paths in the same run. Prints one JSON object: items/s, items/s per
core and the ratio to DeepAR's rate for each model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast_generation_bench import forecast_all

BOLT_QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
CHRONOS2_QUANTILES = [0.01, 0.05, *[round(0.1 + 0.05 * i, 2) for i in range(17)], 0.95, 0.99]
#: Published dimensions (the models' config.json on Hugging Face): d_model, d_ff, layers, heads.
BOLT_SIZES = {"bolt-tiny": (256, 1024, 4, 4), "bolt-mini": (384, 1536, 4, 8), "bolt-small": (512, 2048, 6, 8),
              "bolt-base": (768, 3072, 12, 12)}


def build(name: str, folder: Path) -> int:
    """A model of ``name``'s published dimensions with random weights, saved to ``folder``; its
    parameter count."""
    import torch

    torch.manual_seed(0)
    if name == "chronos-2":
        from chronos.chronos2 import Chronos2Model
        from chronos.chronos2.config import Chronos2CoreConfig

        config = Chronos2CoreConfig(
            d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12, reg_token_id=1,
            architectures=["Chronos2Model"], chronos_pipeline_class="Chronos2Pipeline",
            chronos_config={"context_length": 8192, "input_patch_size": 16, "input_patch_stride": 16,
                            "output_patch_size": 16, "max_output_patches": 64, "quantiles": CHRONOS2_QUANTILES,
                            "use_reg_token": True, "use_arcsinh": True, "time_encoding_scale": 8192})
        model = Chronos2Model(config)
    else:
        from chronos.chronos_bolt import ChronosBoltModelForForecasting
        from transformers import T5Config

        d_model, d_ff, layers, heads = BOLT_SIZES[name]
        config = T5Config(
            d_model=d_model, d_kv=64, d_ff=d_ff, num_layers=layers, num_decoder_layers=layers, num_heads=heads,
            vocab_size=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, feed_forward_proj="relu",
            is_encoder_decoder=True, reg_token_id=1, architectures=["ChronosBoltModelForForecasting"],
            chronos_pipeline_class="ChronosBoltPipeline",
            chronos_config={"context_length": 2048, "input_patch_size": 16, "input_patch_stride": 16,
                            "prediction_length": 64, "quantiles": BOLT_QUANTILES, "use_reg_token": True})
        model = ChronosBoltModelForForecasting(config)
    model.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1464)
    ap.add_argument("--sizes", default="bolt-tiny,bolt-mini,bolt-small,bolt-base,chronos-2")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()

    import torch

    from api.runtime import build_runtime
    from api.settings import Settings
    from datasets import import_dataset
    from datasets.samples import write_sample
    from forecast.config import Hyperparameters
    from forecast.data import load_entries, model_view
    from forecast.models.chronos_loading import bfloat16_available
    from forecast.predictors import create_predictor, load_active_predictor
    from forecast.types import parse_types
    from resources import Kind

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        rt = build_runtime(Settings(home=f"{tmp}/home", registry=f"{tmp}/reg.db"))  # type: ignore[call-arg]
        write_sample("tourism-monthly", f"{tmp}/m.jsonl")
        import_dataset(rt.workspace, rt.registry, "m", f"{tmp}/m.jsonl", freq="M")
        base = model_view(load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "m")), num_dynamic_feat=0,
                          num_cat=0, for_training=False)
        entries = [dict(base[i % len(base)], item_id=f"{base[i % len(base)]['item_id']}-{i}") for i in range(args.items)]
        types = parse_types("0.1,0.5,0.9,mean")

        def rate(model: object, precision: str) -> float:
            model.use_precision(precision)  # type: ignore[attr-defined]
            forecast_all(model, entries[: min(64, len(entries))], types)  # warm-up: load, first allocations
            best = min(_timed(lambda: forecast_all(model, entries, types)) for _ in range(args.repeats))
            return args.items / best

        create_predictor(rt.workspace, rt.registry, "deepar", dataset="m", hyperparameters=Hyperparameters(
            prediction_length=24, algorithm="deepar", epochs=args.epochs, early_stopping_patience=None))
        deepar = rate(load_active_predictor(rt.workspace, rt.registry, "deepar")[1], "float32")
        out: dict[str, object] = {"items": args.items, "cores": cores, "torch_threads": torch.get_num_threads(),
                                  "prediction_length": 24, "bfloat16_available": bfloat16_available(),
                                  "deepar_float32_items_per_s": round(deepar, 1), "models": {}}
        for name in args.sizes.split(","):
            folder = Path(tmp) / "models" / name
            parameters = build(name, folder)
            create_predictor(rt.workspace, rt.registry, name, dataset="m", hyperparameters=Hyperparameters(
                prediction_length=24, algorithm="chronos", model_path=str(folder)))
            model = load_active_predictor(rt.workspace, rt.registry, name)[1]
            result: dict[str, object] = {"parameters": parameters}
            for precision in ("float32", *(["bfloat16"] if bfloat16_available() else [])):
                r = rate(model, "float32" if precision == "float32" else "float16")
                result[precision] = {"items_per_s": round(r, 1), "items_per_s_per_core": round(r / cores, 1),
                                     "vs_deepar": round(r / deepar, 2)}
            out["models"][name] = result  # type: ignore[index]
            print(json.dumps({name: result}), flush=True)
        print(json.dumps(out, indent=2))


def _timed(run: object) -> float:
    started = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - started


if __name__ == "__main__":
    main()

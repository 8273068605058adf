"""Pretrained forecasting models' weights, from where the user keeps them.

A model is a folder of Hugging Face's layout, as downloaded once by the user: ``config.json`` and
``model.safetensors`` (Chronos-Bolt and Chronos-2, ``chronos-forecasting``'s architectures). The
``model_path`` a predictor names is a local folder or any fsspec URL (``s3://bucket/models/x``);
nothing is ever downloaded from a model hub (``HF_HUB_OFFLINE`` is set before ``transformers``
loads).

- :func:`check_model` checks a path without reading the weights (its config, the weights'
  tensor header) and says what the model is: :class:`ModelIdentity` (name, architecture,
  parameter count, context and quantiles). Every error names the path and what a model folder
  holds. Registering a predictor runs it, so a bad path registers nothing.
- :func:`settle_pretrained` fills a predictor's model path (and ``auto``'s default members) from
  ``FORECAST_CHRONOS_MODEL`` and checks it, before anything is registered.
- :func:`fetch_model` adds the weights' content hash and gives a local folder holding the files:
  the folder itself, or this machine's copy of a remote one (copied once per machine).

Loading the weights into ``chronos-forecasting``'s pipeline is :mod:`forecast.models.chronos_loading`'s
(what registers a predictor or serves requests never imports that library).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import fsspec
from pydantic import BaseModel

from forecast.config import DEFAULT_MEMBERS, Hyperparameters
from forecast.errors import HyperparameterError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: The pipelines this service runs, by ``chronos_pipeline_class`` in the model's config.
ARCHITECTURES = {"ChronosBoltPipeline": "chronos-bolt", "Chronos2Pipeline": "chronos-2"}
#: Where copies of remote models are kept on this machine (``FORECAST_MODEL_CACHE`` overrides).
CACHE_DIR = Path(os.environ.get("FORECAST_MODEL_CACHE", Path.home() / ".cache" / "forecast-service" / "models"))

Architecture = Literal["chronos-bolt", "chronos-2"]
StorageOptions = Callable[[str], dict[str, Any]]


class ModelIdentity(BaseModel):
    """What a pretrained model is, recorded with every predictor that uses it."""

    path: str  # as the user gave it
    name: str  # the folder's last part (Hugging Face's model name, as downloaded)
    architecture: Architecture
    sha256: str  # of the weights file: the same name may hold other weights tomorrow
    parameters: int
    context_length: int
    prediction_length: int  # what it forecasts in one pass (longer horizons are rolled out)
    quantiles: list[float]
    covariates: bool  # takes related series (Chronos-2) or ignores them (Chronos-Bolt)


def model_error(path: str, what: str) -> HyperparameterError:
    return HyperparameterError(
        f"model_path {path!r}: {what}. A model folder holds {CONFIG_FILE} and {WEIGHTS_FILE} of a Chronos-Bolt "
        "or Chronos-2 model, as downloaded from Hugging Face (docs/pretrained.md)")


def model_store(path: str, storage_options: StorageOptions) -> tuple[Any, str]:
    try:
        fs, root = fsspec.core.url_to_fs(path, **storage_options(path))
    except (ValueError, ImportError) as e:
        raise model_error(path, f"cannot be opened ({e})") from None
    return fs, root.rstrip("/")


def _config(fs: Any, root: str, path: str) -> dict[str, Any]:
    try:
        with fs.open(f"{root}/{CONFIG_FILE}", "rb") as f:
            config = json.loads(f.read())
    except FileNotFoundError:
        try:
            there = fs.isdir(root)
        except Exception:  # noqa: BLE001 - a store that cannot even be listed: nothing there to read
            there = False
        raise model_error(path, f"no {CONFIG_FILE} there" if there else
                       "nothing there to read (no such folder or bucket, or no access to it)") from None
    except ValueError as e:
        raise model_error(path, f"{CONFIG_FILE} is not valid JSON ({e})") from None
    except Exception as e:  # noqa: BLE001 - any failure of the store (permissions, a missing bucket) names the path
        raise model_error(path, f"cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(config, dict):
        raise model_error(path, f"{CONFIG_FILE} is not a model config")
    return config


def weights_header(fs: Any, root: str, path: str) -> dict[str, Any]:
    """The weights' safetensors header (tensor names, dtypes, shapes): the file's first 8 + n bytes."""
    try:
        with fs.open(f"{root}/{WEIGHTS_FILE}", "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size < 100 * 2**20:
                raise ValueError("no safetensors header")
            header = json.loads(f.read(size))
        if not isinstance(header, dict):
            raise TypeError("no safetensors header")
        ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
        expected, actual = 8 + size + max(ends, default=0), int(fs.size(f"{root}/{WEIGHTS_FILE}"))
        if actual != expected:
            raise ValueError(f"{actual} bytes where its header describes {expected}: cut short or damaged")
    except FileNotFoundError:
        raise model_error(path, f"no {WEIGHTS_FILE} there") from None
    except ValueError as e:
        raise model_error(path, f"{WEIGHTS_FILE} is not a safetensors file ({e})") from None
    except (KeyError, TypeError, IndexError) as e:
        raise model_error(path, f"{WEIGHTS_FILE} is not a safetensors file (no {e})") from None
    except Exception as e:  # noqa: BLE001 - as in _config
        raise model_error(path, f"{WEIGHTS_FILE} cannot be read ({type(e).__name__}: {e})") from None
    return header


def check_model(path: str, storage_options: StorageOptions = lambda url: {}) -> ModelIdentity:
    """What the model at ``path`` is, from its config and the weights' header, without reading the
    weights (``sha256`` empty): what registering a predictor checks.

    Raises
    ------
    HyperparameterError
        Nothing there, no or a broken config, another architecture, missing weights or a header
        that is not safetensors', or an unreadable bucket: the message names the path.
    """
    fs, root = model_store(path, storage_options)
    config = _config(fs, root, path)
    pipeline, chronos = config.get("chronos_pipeline_class"), config.get("chronos_config")
    if pipeline not in ARCHITECTURES or not isinstance(chronos, dict):
        found = pipeline or config.get("architectures") or "no Chronos config"
        raise model_error(path, f"the model is {found}, not one of {', '.join(ARCHITECTURES)}")
    header = weights_header(fs, root, path)
    parameters = 0
    for name, tensor in header.items():
        if name != "__metadata__" and isinstance(tensor, dict):
            count = 1
            for n in tensor.get("shape", []):
                count *= int(n)
            parameters += count
    architecture = ARCHITECTURES[pipeline]
    try:
        if architecture == "chronos-2":
            horizon = int(chronos["output_patch_size"]) * int(chronos.get("max_output_patches", 1))
        else:
            horizon = int(chronos["prediction_length"])
        identity = ModelIdentity(
            path=path, name=root.rsplit("/", 1)[-1], architecture=architecture, sha256="",
            parameters=parameters, context_length=int(chronos["context_length"]), prediction_length=horizon,
            quantiles=[float(q) for q in chronos["quantiles"]], covariates=architecture == "chronos-2")
    except (KeyError, TypeError, ValueError) as e:
        raise model_error(path, f"{CONFIG_FILE}'s chronos_config lacks {e}") from None
    if 0.5 not in identity.quantiles or identity.quantiles != sorted(identity.quantiles):
        raise model_error(path, "its quantiles must be increasing and include the median")
    return identity


def fetch_model(path: str, storage_options: StorageOptions = lambda url: {},
                expected: str | None = None) -> tuple[ModelIdentity, Path]:
    """The model at ``path`` with its weights' hash, and a local folder holding its files: the
    folder itself, or this machine's copy of a remote one (copied once: the copy is kept under
    :data:`CACHE_DIR`, keyed by the remote file's size and tag). With ``expected``, the weights
    must hash to it (the predictor's record): the same path may hold other weights later."""
    identity = check_model(path, storage_options)
    fs, root = model_store(path, storage_options)
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        folder = Path(root)
    else:
        info = fs.info(f"{root}/{WEIGHTS_FILE}")
        tag = json.dumps([path, info.get("size"), str(info.get("ETag") or info.get("mtime") or "")])
        folder = CACHE_DIR / hashlib.sha256(tag.encode()).hexdigest()[:32]
        if not (folder / WEIGHTS_FILE).exists():
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".copy-", dir=CACHE_DIR))
            try:
                for file in (CONFIG_FILE, WEIGHTS_FILE):
                    fs.get(f"{root}/{file}", str(staging / file))
                try:
                    staging.rename(folder)
                except OSError:  # another process copied it first
                    if not (folder / WEIGHTS_FILE).exists():
                        raise
            except Exception as e:  # noqa: BLE001 - as in _config
                raise model_error(path, f"cannot be copied here ({type(e).__name__}: {e})") from None
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    identity = identity.model_copy(update={"sha256": _sha256(folder / WEIGHTS_FILE, path)})
    if expected is not None and identity.sha256 != expected:
        raise model_error(path, f"the weights changed since the predictor was made (sha256 {identity.sha256[:12]}, "
                             f"recorded {expected[:12]}); make the predictor again, or restore the weights")
    return identity, folder


_hashes: dict[tuple[str, int, int], str] = {}


def _sha256(weights: Path, path: str) -> str:
    """The file's sha256, computed once per process for a given size and modification time."""
    try:
        stat = weights.stat()
        key = (str(weights), stat.st_size, stat.st_mtime_ns)
        if key not in _hashes:
            digest = hashlib.sha256()
            with weights.open("rb") as f:
                while chunk := f.read(8 * 2**20):
                    digest.update(chunk)
            _hashes[key] = digest.hexdigest()
        return _hashes[key]
    except OSError as e:
        raise model_error(path, f"{WEIGHTS_FILE} cannot be read ({e})") from None


def settle_pretrained(hyperparameters: Hyperparameters, default: str | None,
                          options_for: Callable[[str], dict[str, Any]] = lambda url: {},
                          ) -> tuple[Hyperparameters, list[str]]:
    """``hyperparameters`` with the pretrained model settled, and what to tell the user.

    ``default`` (``FORECAST_CHRONOS_MODEL``) is the model path of a ``chronos`` predictor (alone
    or in ``auto``) that names none, and makes ``chronos`` one of ``auto``'s default members when
    the request leaves the members to the service. The model path is checked (its config, its
    weights' header; :func:`check_model`) so a bad one registers nothing.

    Raises
    ------
    HyperparameterError
        ``chronos`` without a model path and no default, or a model path that does not hold a model.
    """
    values = hyperparameters.model_dump(exclude_unset=True)
    notes = []
    if (default and hyperparameters.algorithm == "auto" and "members" not in hyperparameters.model_fields_set):
        values["members"] = [*DEFAULT_MEMBERS, "chronos"]
        notes.append(f"chronos joined auto's default members: FORECAST_CHRONOS_MODEL names a pretrained model ({default})")
    hp = Hyperparameters.model_validate(values)
    if hp.uses_chronos and hp.model_path is None:
        if default is None:
            raise HyperparameterError(
                "algorithm chronos needs model_path: a folder or URL (s3://bucket/prefix) holding a Chronos-Bolt or "
                "Chronos-2 model's config.json and model.safetensors (--model-path), or FORECAST_CHRONOS_MODEL")
        hp = Hyperparameters.model_validate({**values, "model_path": default})
    if hp.uses_chronos:
        assert hp.model_path is not None
        check_model(hp.model_path, options_for)
    return hp, notes

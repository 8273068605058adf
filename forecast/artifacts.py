"""Predictor artifacts in the workspace: the fitted model (``model/``, written by the algorithm's
:meth:`forecast.models.base.Model.save`) plus ``manifest.json``.

The folder is written in full (to a local temporary folder, then uploaded for a remote
workspace) before the registry points at it. Loading a remote artifact downloads it once into a
local cache keyed by its unique folder name. Everything loads on CPU.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pydantic import BaseModel

from forecast.config import Hyperparameters, ResolvedConfig
from forecast.parts import Parts
from forecast.sampling import Precision
from resources import Workspace

if TYPE_CHECKING:
    from forecast.models.base import Model

MODEL_DIR = "model"
MANIFEST = "manifest.json"


class PredictorManifest(BaseModel):
    """Everything needed to trust and reuse a predictor, stored beside its weights."""

    name: str
    algorithm: str = "deepar"  # predictors made before the other algorithms are DeepAR
    dataset: str
    dataset_fingerprint: str
    freq: str
    prediction_length: int
    context_length: int
    hyperparameters: dict[str, Any]
    resolved: dict[str, Any]
    features: dict[str, Any] = {}  # forecast.features.FeaturePlan
    metrics: dict[str, Any]
    training: dict[str, Any]
    versions: dict[str, str]
    created_at: datetime


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        **{pkg: version(pkg) for pkg in ("gluonts", "torch", "lightning", "statsforecast", "numpy", "pandas",
                                         "forecast-service")},
    }


def save_predictor(workspace: Workspace, rel: str, model: Model, manifest: PredictorManifest,
                   extra_files: dict[str, bytes] | None = None,
                   merged: dict[str, tuple[Parts, list[tuple[str, int]], pa.Schema]] | None = None) -> None:
    """Write ``<rel>/model/``, ``<rel>/manifest.json``, ``extra_files`` (name -> bytes) and
    ``merged`` files (name -> the parts merged into it, and its schema when there are none) in one
    go; the folder may already hold the parts its job's workers wrote."""
    with tempfile.TemporaryDirectory(prefix="forecast-artifact-") as tmp:
        local = Path(tmp)
        (local / MODEL_DIR).mkdir()
        model.save(local / MODEL_DIR)
        for file_name, data in (extra_files or {}).items():
            (local / file_name).write_bytes(data)
        for file_name, (parts, files, schema) in (merged or {}).items():
            with (local / file_name).open("wb") as f:
                parts.merge(files, f, empty=schema)
        (local / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        if workspace.is_local:
            dest = Path(workspace.path(rel))
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(local, dest, dirs_exist_ok=True)
        else:
            workspace.fs.put(str(local) + "/", workspace.path(rel), recursive=True)


def read_manifest(workspace: Workspace, rel: str) -> PredictorManifest:
    return PredictorManifest.model_validate_json(workspace.read_bytes(f"{rel}/{MANIFEST}"))


def _cache_root() -> Path:
    root = Path(tempfile.gettempdir()) / "forecast-predictor-cache"
    root.mkdir(parents=True, exist_ok=True)
    return root


def resolved_config(manifest: PredictorManifest) -> ResolvedConfig:
    """The configuration a predictor was fitted with, from its manifest."""
    hp = Hyperparameters.model_validate({**manifest.hyperparameters, "algorithm": manifest.algorithm})
    return ResolvedConfig.model_validate({**manifest.resolved, "hp": hp})


def load_predictor(workspace: Workspace, rel: str, manifest: PredictorManifest | None = None,
                   precision: Precision = "auto") -> Model:
    """The fitted model at ``rel`` (DeepAR onto the CPU; ``precision`` is its decoding precision).
    A remote artifact is downloaded once, into a local cache keyed by its unique folder."""
    from forecast.models import load_model

    manifest = manifest or read_manifest(workspace, rel)
    if workspace.is_local:
        path = Path(workspace.path(rel)) / MODEL_DIR
    else:
        path = _cache_root() / rel.replace("/", "__") / MODEL_DIR
    if not workspace.is_local and not (path.parent / ".complete").exists():
        staging = Path(tempfile.mkdtemp(dir=_cache_root()))
        workspace.fs.get(workspace.path(f"{rel}/{MODEL_DIR}") + "/", str(staging / MODEL_DIR), recursive=True)
        (staging / ".complete").write_text(datetime.now(UTC).isoformat())
        shutil.rmtree(path.parent, ignore_errors=True)
        staging.rename(path.parent)
    model = load_model(path, resolved_config(manifest))
    model.use_precision(precision)
    model.use_storage(workspace.options_for)
    return model

"""Predictor artifacts in the workspace: the serialized gluonts predictor plus ``manifest.json``.

The folder is written in full (to a local temporary folder, then uploaded for a remote
workspace) before the registry points at it. Loading a remote artifact downloads it once into a
local cache keyed by its unique folder name. Everything loads on CPU.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from resources import Workspace

MODEL_DIR = "model"
MANIFEST = "manifest.json"


class PredictorManifest(BaseModel):
    """Everything needed to trust and reuse a predictor, stored beside its weights."""

    name: str
    dataset: str
    dataset_fingerprint: str
    freq: str
    prediction_length: int
    context_length: int
    hyperparameters: dict[str, Any]
    resolved: dict[str, Any]
    metrics: dict[str, Any]
    training: dict[str, Any]
    versions: dict[str, str]
    created_at: datetime


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        **{pkg: version(pkg) for pkg in ("gluonts", "torch", "lightning", "numpy", "pandas", "forecast-service")},
    }


def save_predictor(workspace: Workspace, rel: str, predictor: Any, manifest: PredictorManifest) -> None:
    """Write ``<rel>/model/`` (gluonts serialization) and ``<rel>/manifest.json``."""
    with tempfile.TemporaryDirectory(prefix="forecast-artifact-") as tmp:
        local = Path(tmp)
        (local / MODEL_DIR).mkdir()
        predictor.serialize(local / MODEL_DIR)
        (local / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        if workspace.is_local:
            dest = Path(workspace.path(rel))
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(local, dest)
        else:
            workspace.fs.put(str(local) + "/", workspace.path(rel), recursive=True)


def read_manifest(workspace: Workspace, rel: str) -> PredictorManifest:
    return PredictorManifest.model_validate_json(workspace.read_bytes(f"{rel}/{MANIFEST}"))


def _cache_root() -> Path:
    root = Path(tempfile.gettempdir()) / "forecast-predictor-cache"
    root.mkdir(parents=True, exist_ok=True)
    return root


def load_predictor(workspace: Workspace, rel: str) -> Any:
    """Deserialize the gluonts predictor at ``rel`` onto the CPU (imports torch). A remote
    artifact is downloaded once, into a local cache keyed by its unique folder."""
    from gluonts.model.predictor import Predictor

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
    with warnings.catch_warnings():  # pandas alias deprecations inside gluonts, torch RNN notes
        warnings.simplefilter("ignore")
        return Predictor.deserialize(path, device="cpu")

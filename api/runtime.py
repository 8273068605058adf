"""What every entry point needs: the settings, the workspace and the registry, built once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.settings import Settings
from resources import Registry, Workspace


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    workspace: Workspace
    registry: Registry


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    home = settings.home
    if "://" not in home:
        home = str(Path(home).expanduser().resolve())
    workspace = Workspace(home, storage_options=settings.storage_options(home), options_for=settings.storage_options)
    return Runtime(settings=settings, workspace=workspace, registry=Registry(settings.registry_path()))

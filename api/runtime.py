"""What every entry point needs: the settings, the workspace and the registry, built once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.settings import Settings
from resources import Registry, Workspace
from resources.kinds import JobContext


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    workspace: Workspace
    registry: Registry

    def job_context(self) -> JobContext:
        """What a job function gets from the settings: the workspace, the registry, the engine, and
        the settings jobs read."""
        s = self.settings
        return JobContext(workspace=self.workspace, registry=self.registry, engine=s.job_engine(),
                          storage_options=s.storage_options, precision=s.inference_precision,
                          max_training_memory_mb=s.max_training_memory_mb,
                          import_partition_bytes=s.import_partition_mb * 2**20, pretrained_model=s.chronos_model)


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    home = settings.home
    if "://" not in home:
        home = str(Path(home).expanduser().resolve())
    workspace = Workspace(home, storage_options=settings.storage_options(home), options_for=settings.storage_options)
    return Runtime(settings=settings, workspace=workspace, registry=Registry(settings.registry_path()))

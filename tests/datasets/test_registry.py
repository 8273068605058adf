"""The registry's one ACTIVE check, shared by every layer that uses a resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources import ConflictError, Kind, Registry, Status


def test_get_active(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    registry.create(Kind.FORECAST, "f", status=Status.CREATE_PENDING, spec={})
    with pytest.raises(ConflictError, match="forecast 'f' is CREATE_PENDING, not ACTIVE"):
        registry.get_active(Kind.FORECAST, "f")
    registry.update(Kind.FORECAST, "f", status=Status.ACTIVE)  # ACTIVE but nothing stored: not usable
    with pytest.raises(ConflictError, match="forecast 'f' is ACTIVE but has nothing stored"):
        registry.get_active(Kind.FORECAST, "f")
    registry.update(Kind.FORECAST, "f", artifact="forecasts/f/x")
    assert registry.get_active(Kind.FORECAST, "f").artifact == "forecasts/f/x"
    # an export's files live at its destination, not in the workspace
    registry.create(Kind.EXPORT, "e", status=Status.ACTIVE, spec={})
    assert registry.get_active(Kind.EXPORT, "e").name == "e"

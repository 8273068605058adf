from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.schemas import NAME_PATTERN

NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="resource name: letters, digits, - and _")]

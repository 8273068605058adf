"""Interfaces: the ``forecast`` command line and the HTTP service. Nothing imports this package.

Our other packages have common top-level names (``datasets``, ``exports``, ``forecast``,
``resources``); another distribution of the same name (Hugging Face ``datasets``, say) installed
in the same environment would be imported in their place. Importing this package checks that each
one is ours and stops with what to do when it is not.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

OUR_PACKAGES = ("resources", "datasets", "forecast", "exports")


def check_packages() -> None:
    """Exit with status 2 and a message if any of :data:`OUR_PACKAGES` is another project's. Each is
    found, not imported (its ``__init__`` must declare ``__forecast_service__``), so importing a
    light part of ``api`` (the Python client) loads none of them."""
    for name in OUR_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            problem = f"cannot find the package {name!r}"
        else:
            try:
                if "__forecast_service__ = True" in Path(spec.origin).read_text(errors="replace"):
                    continue
            except OSError:
                pass
            problem = f"the package {name!r} imported from {spec.origin} is not forecast-service's"
        sys.stderr.write(
            f"error: {problem}. Another installed package has the same top-level name (for example Hugging "
            f"Face 'datasets'). Install forecast-service in a virtual environment of its own: "
            f"python -m venv .venv && .venv/bin/pip install forecast-service (or 'make install' in a checkout).\n"
        )
        raise SystemExit(2)


check_packages()

"""Interfaces: the ``forecast`` command line and the HTTP service. Nothing imports this package.

Our other packages have common top-level names (``datasets``, ``exports``, ``forecast``,
``resources``); another distribution of the same name (Hugging Face ``datasets``, say) installed
in the same environment would be imported in their place. Importing this package checks that each
one is ours and stops with what to do when it is not.
"""

from __future__ import annotations

import importlib
import sys

OUR_PACKAGES = ("resources", "datasets", "forecast", "exports")


def check_packages() -> None:
    """Exit with status 2 and a message if any of :data:`OUR_PACKAGES` is another project's."""
    for name in OUR_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            problem = f"cannot import {name!r} ({e})"
        else:
            if getattr(module, "__forecast_service__", False):
                continue
            where = getattr(module, "__file__", None) or "an unknown location"
            problem = f"the package {name!r} imported from {where} is not forecast-service's"
        sys.stderr.write(
            f"error: {problem}. Another installed package has the same top-level name (for example Hugging "
            f"Face 'datasets'). Install forecast-service in a virtual environment of its own: "
            f"python -m venv .venv && .venv/bin/pip install forecast-service (or 'make install' in a checkout).\n"
        )
        raise SystemExit(2)


check_packages()

"""The quickstart notebook: it runs top to bottom, unattended (with a 1-epoch budget); it is stored
with the outputs of a full run so it reads well unrendered; and it uses only the public interface a
user would (the Python client and the CLI), not the service's internal modules."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"
INTERNAL = ("forecast", "datasets", "exports", "resources", "api")
PUBLIC = ("api.client",)


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def _text(outputs: list[dict[str, Any]]) -> str:
    return "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)


@pytest.mark.slow
def test_quickstart_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUICKSTART_EPOCHS", "1")
    monkeypatch.setenv("QUICKSTART_SERIES", "120")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        cell.pop("outputs", None)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 3
    text = _text(outputs)
    assert "seasonal_naive" in text and "_SUCCESS" in text
    assert "| epochs: 1" in text  # the notebook took the test's epoch budget (else a real 40-epoch run)


def test_stored_notebook_has_the_outputs_of_a_full_run() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)
    assert all(c.get("outputs") for c in code[:-1])  # the last cell stops the service, silently
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 3
    assert "| epochs: 40" in _text(outputs) and "427" in _text(outputs)


def test_notebook_uses_only_the_public_interface() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    modules: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("!"))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
    internal = [m for m in modules if m.split(".")[0] in INTERNAL and m not in PUBLIC]
    assert not internal, f"the notebook imports internal modules: {internal}"
    assert "api.client" in modules

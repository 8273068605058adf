"""Options are defined once: every hyperparameter of the one model is reachable from every
surface (a CLI flag, the HTTP schema, the AWS mapping for DeepAR's, the docs' table), and text
values are cast the same way wherever they come from."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from api.aws.predictors_api import TRAINING_PARAMETERS
from api.cli.options import flag_name
from api.cli.predictor_commands import app as predictors_app
from forecast.config import DEEPAR_OPTIONS, Hyperparameters, hyperparameter_table

FIELDS = set(Hyperparameters.model_fields)


def test_every_hyperparameter_is_a_cli_flag() -> None:
    command = typer.main.get_command(predictors_app).commands["create"]  # type: ignore[attr-defined]
    flags = {opt for p in command.params for opt in p.opts}
    missing = sorted(f for f in FIELDS if flag_name(f) not in flags)
    assert not missing, f"hyperparameters without a `forecast predictors create` flag: {missing}"


def test_every_hyperparameter_is_in_the_http_schema() -> None:
    from api.server import create_app
    from api.settings import Settings

    schema = create_app(Settings()).openapi()["components"]["schemas"]
    assert set(schema["Hyperparameters"]["properties"]) == FIELDS


def test_deepar_options_are_aws_training_parameters() -> None:
    assert set(DEEPAR_OPTIONS) <= set(TRAINING_PARAMETERS) <= FIELDS


def test_the_docs_table_is_the_model() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "predictors.md").read_text()
    assert hyperparameter_table() in doc, "docs/predictors.md is stale: paste `python -m forecast.config` into it"


@pytest.mark.parametrize(("text", "typed"), [
    ({"prediction_length": "4", "epochs": "3", "learning_rate": "1e-2", "refit": "true"},
     {"prediction_length": 4, "epochs": 3, "learning_rate": 0.01, "refit": True}),
    ({"prediction_length": "4", "members": "deepar,ets", "test_quantiles": "0.1,0.9"},
     {"prediction_length": 4, "members": ["deepar", "ets"], "test_quantiles": [0.1, 0.9]}),
    ({"prediction_length": "4", "algorithm": "deepar", "cardinality": "3,12", "num_dynamic_feat": "2"},
     {"prediction_length": 4, "algorithm": "deepar", "cardinality": [3, 12], "num_dynamic_feat": 2}),
    ({"prediction_length": "4", "algorithm": "deepar", "cardinality": "ignore", "early_stopping_patience": "0"},
     {"prediction_length": 4, "algorithm": "deepar", "cardinality": "ignore", "early_stopping_patience": None}),
    ({"prediction_length": "4", "members": '["deepar", "theta"]'}, {"prediction_length": 4, "members": ["deepar", "theta"]}),
])
def test_text_is_cast_as_the_typed_value(text: dict[str, str], typed: dict[str, object]) -> None:
    assert Hyperparameters.from_values(text) == Hyperparameters.model_validate(typed)


def test_text_out_of_range_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="epochs"):
        Hyperparameters.from_values({"prediction_length": "4", "epochs": "0"})
    with pytest.raises(ValueError, match="num_cellz"):
        Hyperparameters.from_values({"prediction_length": "4", "num_cellz": "3"})

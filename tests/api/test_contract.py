"""The OpenAPI document is the contract: schemathesis generates requests for every operation against
the app on a scratch workspace (a tiny trained world) and checks that no response is a 5xx and
every response matches the documented status codes, content types and schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from api.server import create_app
from tests.service_fixtures import build_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path):  # type: ignore[no-untyped-def]
    world = build_world(tmp_path_factory.mktemp("contract"), samples_dir)
    # bounded work per request, and HTTP exports allowed nowhere (so generated jobs cannot write)
    app = create_app(world.settings.model_copy(update={"max_invocation_values": 20_000,
                                                        "allowed_export_prefixes": []}))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_keeps_the_contract(api_schema) -> None:  # type: ignore[no-untyped-def]
    # (schemathesis.pytest.from_fixture does not work with pytest 9.2: it reads Function._nodeid, gone
    # there; so each operation's strategy is driven with hypothesis directly)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        @given(case=operation.as_strategy())
        def check(case) -> None:  # type: ignore[no-untyped-def]
            # a request can match the schema and still be wrong for the data (an unknown dataset, a start
            # that does not fit the frequency): those are 4xx with a message, not contract failures
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        check()


def test_the_document_types_what_the_service_returns(api_schema) -> None:  # type: ignore[no-untyped-def]
    doc = api_schema.raw_schema
    item = doc["paths"]["/v1/forecasts/{name}/items/{item_id}"]["get"]["responses"]
    assert item["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ItemForecast"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status in ("401", "404", "409", "413", "422"):
                assert op["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Message"}, (method, path, status)
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "FORECAST_API_KEY, when the server has one"}


def test_operations_have_real_summaries() -> None:
    """Summaries are the first sentence of each route's description, not title-cased function names."""
    import tempfile

    from api.server import create_app
    from api.settings import Settings

    home = tempfile.mkdtemp()
    schema = create_app(Settings(home=home, registry=f"{home}/r.db")).openapi()  # type: ignore[call-arg]
    summaries = {f"{m.upper()} {p}": op["summary"] for p, ops in schema["paths"].items() for m, op in ops.items()}
    assert summaries["DELETE /v1/datasets/{name}"] == "Delete a dataset (refused while a predictor or a forecast uses it)"
    assert summaries["GET /v1/datasets"] == "List datasets"
    assert not [k for k, v in summaries.items() if v.endswith((" Route", " Job")) or v.istitle()]

"""Stock boto3 clients (forecast, forecastquery, sagemaker-runtime) against the service on a loopback
socket, with data in a moto S3 bucket: the managed service's getting-started flow end to end,
every error type, pagination, SigV4 (accepted, and forged signatures refused), InvokeEndpoint with
and without TargetModel; every response checked against the botocore service model's output shape.

Real data: fpp3 ``aus_retail`` turnover of two industries in every state (monthly), written as the
managed service imports it: a CSV without a header row, its columns in the schema's order.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from api.server import create_app
from api.settings import Settings
from datasets.samples import long_frames
from resources import Kind
from tests.service_fixtures import serving

pytestmark = pytest.mark.slow

KEY_ID, SECRET = "AKIDFORECASTTEST", "forecast-test-secret"
INDUSTRIES = ["Food retailing", "Liquor retailing"]
HELD_BACK = 4  # the last months, imported incrementally as the actuals that arrive after the forecast
SCHEMA = {"Attributes": [{"AttributeName": "timestamp", "AttributeType": "timestamp"},
                         {"AttributeName": "item_id", "AttributeType": "string"},
                         {"AttributeName": "state", "AttributeType": "string"},
                         {"AttributeName": "target_value", "AttributeType": "float"}]}


def check_shape(parsed: dict[str, Any], model: Any, http_response: Any, **_: Any) -> None:
    """botocore's validator on a parsed response, against the operation's output shape."""
    if model.output_shape is None or http_response.status_code >= 300:
        return
    body = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, model.output_shape)
    assert not report.has_errors(), report.generate_report()
    CHECKED.append(model.name)


CHECKED: list[str] = []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[dict[str, Any]]:
    import s3fs

    root = tmp_path_factory.mktemp("aws")
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing", skip_instance_cache=True)
    bucket = "aws-protocols"
    fs.mkdir(bucket)
    frame = long_frames("aus-retail")["target"]
    frame = frame[frame["item_id"].isin(INDUSTRIES)][["timestamp", "item_id", "state", "target_value"]]
    later = frame["timestamp"] > sorted(frame["timestamp"].unique())[-1 - HELD_BACK]  # the months after the data: actuals that arrive later
    with fs.open(f"{bucket}/retail/data.csv", "w") as f:
        frame[~later].to_csv(f, index=False, header=False)
    with fs.open(f"{bucket}/retail/next.csv", "w") as f:
        frame[later].to_csv(f, index=False, header=False)
    with fs.open(f"{bucket}/retail/all.csv", "w") as f:  # a FULL import of everything, later
        frame.to_csv(f, index=False, header=False)
    frame, later_frame = frame[~later], frame[later]
    settings = Settings(home=str(root / "home"), registry=str(root / "registry.db"),  # type: ignore[call-arg]
                        s3={"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"},
                        allowed_import_prefixes=[f"s3://{bucket}/retail/"], allowed_export_prefixes=[f"s3://{bucket}/out/"],
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        auto_predictor_hyperparameters={"epochs": 2, "num_batches_per_epoch": 5})
    app = create_app(settings, bind_host="127.0.0.1")
    with serving(app) as url:
        yield {"url": url, "bucket": bucket, "fs": fs, "frame": frame, "later": later_frame, "settings": settings}
    app.state.service.jobs.wait_all(timeout=30)


def client(server: dict[str, Any], service: str, *, key: str = KEY_ID, secret: str = SECRET) -> Any:
    c = boto3.client(service, endpoint_url=server["url"], region_name="us-east-1", aws_access_key_id=key,
                     aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
    c.meta.events.register("after-call.*", check_shape)
    return c


def wait(describe: Callable[[], dict[str, Any]], timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = describe()
        if body["Status"] in ("ACTIVE", "CREATE_FAILED", "CREATE_STOPPED"):
            assert body["Status"] == "ACTIVE", body.get("Message")
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


@pytest.fixture(scope="module")
def flow(server: dict[str, Any]) -> dict[str, Any]:
    """The getting-started flow: dataset, group, import job, auto predictor, forecast."""
    fc = client(server, "forecast")
    ds = fc.create_dataset(DatasetName="retail", Domain="CUSTOM", DatasetType="TARGET_TIME_SERIES",
                           DataFrequency="M", Schema=SCHEMA)["DatasetArn"]
    group = fc.create_dataset_group(DatasetGroupName="retail_group", Domain="CUSTOM", DatasetArns=[ds])["DatasetGroupArn"]
    job = fc.create_dataset_import_job(
        DatasetImportJobName="first", DatasetArn=ds, TimestampFormat="yyyy-MM-dd",
        DataSource={"S3Config": {"Path": f"s3://{server['bucket']}/retail/data.csv", "RoleArn": "arn:aws:iam::1:role/x"}},
    )["DatasetImportJobArn"]
    wait(lambda: fc.describe_dataset_import_job(DatasetImportJobArn=job))
    predictor = fc.create_auto_predictor(
        PredictorName="retail_auto", ForecastHorizon=6, ForecastFrequency="M", ForecastDimensions=["state"],
        ForecastTypes=["0.1", "0.5", "0.9", "mean"], OptimizationMetric="AverageWeightedQuantileLoss",
        DataConfig={"DatasetGroupArn": group, "AdditionalDatasets": [{"Name": "holiday",
                                                                      "Configuration": {"CountryCode": ["AU"]}}]},
    )["PredictorArn"]
    wait(lambda: fc.describe_auto_predictor(PredictorArn=predictor))
    forecast = fc.create_forecast(ForecastName="retail_forecast", PredictorArn=predictor)["ForecastArn"]
    wait(lambda: fc.describe_forecast(ForecastArn=forecast))
    return {"dataset": ds, "group": group, "job": job, "predictor": predictor, "forecast": forecast}


def test_getting_started_flow(server: dict[str, Any], flow: dict[str, Any]) -> None:
    import httpx

    fc = client(server, "forecast")
    described = fc.describe_dataset(DatasetArn=flow["dataset"])
    assert described["Schema"] == SCHEMA and described["Status"] == "ACTIVE"
    assert fc.describe_dataset_group(DatasetGroupArn=flow["group"])["DatasetArns"] == [flow["dataset"]]
    auto = fc.describe_auto_predictor(PredictorArn=flow["predictor"])
    assert auto["ForecastDimensions"] == ["state"] and auto["DatasetImportJobArns"] == [flow["job"]]

    # accuracy: the same figures /v1 has, per algorithm (the ensemble, each member, seasonal naive)
    metrics = fc.get_accuracy_metrics(PredictorArn=flow["predictor"])
    ours = httpx.get(f"{server['url']}/v1/predictors/retail_auto").json()["result"]["metrics"]
    results = {r["AlgorithmArn"].rsplit("/", 1)[-1]: r["TestWindows"][0]["Metrics"]
               for r in metrics["PredictorEvaluationResults"]}
    training = httpx.get(f"{server['url']}/v1/predictors/retail_auto").json()["result"]["training"]
    # an intermittent model is a member where auto weighs it for the series intermittent in their history
    intermittent = {n for w in training.get("group_weights", {}).values() for n, v in w.items() if v > 0} - {
        "deepar", "ets", "theta", "ces", "seasonal_naive"}
    assert set(results) == {"AutoPredictor", "Deep_AR_Plus", "ETS", "Theta", "CES", "Seasonal_Naive", *intermittent}
    assert results["AutoPredictor"]["AverageWeightedQuantileLoss"] == pytest.approx(ours["predictor"]["mean_wql"])
    # the OptimizationMetric is what the ensemble's weights were chosen on
    assert auto["OptimizationMetric"] == "AverageWeightedQuantileLoss"
    assert training["validation"]["metric"] == "wql, relative to seasonal naive"
    assert [w["Quantile"] for w in results["ETS"]["WeightedQuantileLosses"]] == [round(0.1 * k, 1) for k in range(1, 10)]
    assert metrics["IsAutoPredictor"] is True
    ensemble = metrics["PredictorEvaluationResults"][0]["TestWindows"]
    assert [w["EvaluationType"] for w in ensemble] == ["SUMMARY", "COMPUTED"]  # one backtest window by default
    computed = ensemble[1]
    assert computed["Metrics"]["AverageWeightedQuantileLoss"] == pytest.approx(ours["predictor"]["mean_wql"], rel=1e-4)
    assert (computed["TestWindowEnd"] - computed["TestWindowStart"]).days > 120  # six months

    # the forecast, queried the managed way and our way: the same numbers
    fq = client(server, "forecastquery")
    answer = fq.query_forecast(ForecastArn=flow["forecast"], Filters={"item_id": "Food retailing", "state": "Victoria"})
    predictions = answer["Forecast"]["Predictions"]
    assert set(predictions) == {"p10", "p50", "p90", "mean"}
    ours_item = httpx.get(f"{server['url']}/v1/forecasts/retail_forecast/items/Food retailing",
                          params={"state": "Victoria"}).json()["predictions"]
    assert [p["Value"] for p in predictions["p50"]] == pytest.approx([p["value"] for p in ours_item["p50"]])
    assert predictions["p50"][0]["Timestamp"] == ours_item["p50"][0]["timestamp"].removesuffix("Z")
    window = fq.query_forecast(ForecastArn=flow["forecast"], Filters={"item_id": "Food retailing", "state": "Victoria"},
                               StartDate=predictions["mean"][2]["Timestamp"])
    assert len(window["Forecast"]["Predictions"]["mean"]) == 4

    # the export job writes the forecast to S3; read it back
    export = fc.create_forecast_export_job(
        ForecastExportJobName="retail_export", ForecastArn=flow["forecast"],
        Destination={"S3Config": {"Path": f"s3://{server['bucket']}/out/retail/", "RoleArn": "arn:aws:iam::1:role/x"}})
    wait(lambda: fc.describe_forecast_export_job(ForecastExportJobArn=export["ForecastExportJobArn"]))
    files = [f for f in server["fs"].find(f"{server['bucket']}/out/retail/") if f.endswith(".csv")]
    assert any(f.endswith("_SUCCESS") for f in server["fs"].find(f"{server['bucket']}/out/retail/"))
    rows = [r for f in files for r in csv.DictReader(io.StringIO(server["fs"].cat(f).decode()))]
    series = server["frame"].groupby(["item_id", "state"]).ngroups
    assert len(rows) == series * 6 and list(rows[0])[:3] == ["item_id", "date", "state"]

    # the predictor's backtest forecasts beside the actuals, the same way
    backtest = fc.create_predictor_backtest_export_job(
        PredictorBacktestExportJobName="retail_backtest", PredictorArn=flow["predictor"],
        Destination={"S3Config": {"Path": f"s3://{server['bucket']}/out/backtest/", "RoleArn": "arn:aws:iam::1:role/x"}})
    arn = backtest["PredictorBacktestExportJobArn"]
    done = wait(lambda: fc.describe_predictor_backtest_export_job(PredictorBacktestExportJobArn=arn))
    assert done["PredictorArn"] == flow["predictor"] and done["Format"] == "CSV"
    assert [j["PredictorBacktestExportJobArn"] for j in fc.list_predictor_backtest_export_jobs()[
        "PredictorBacktestExportJobs"]] == [arn]
    assert any(f.endswith("_SUCCESS") for f in server["fs"].find(f"{server['bucket']}/out/backtest/"))
    with pytest.raises(fc.exceptions.ResourceNotFoundException):  # the job exists, but not for this forecast
        fc.describe_forecast_export_job(ForecastExportJobArn=arn.replace(
            "predictor-backtest-export-job/retail_auto", "forecast-export-job/retail_forecast"))

    # what boto3 made is ours too, and the other way round
    assert {"retail_auto"} <= {p["name"] for p in httpx.get(f"{server['url']}/v1/predictors").json()["data"]}
    assert [j["ForecastExportJobName"] for j in fc.list_forecast_export_jobs()["ForecastExportJobs"]] == ["retail_export"]


def test_featurization_imports_again_with_the_predictors_filling(server: dict[str, Any], flow: dict[str, Any]) -> None:
    """AttributeConfigs (the managed service fills at training; this one at import): the target is
    imported again from the same source with the predictor's methods, and the predictor uses it."""
    import httpx

    fc = client(server, "forecast")
    configs = [{"AttributeName": "target_value", "Transformations": {"middlefill": "mean", "backfill": "nan"}}]
    arn = fc.create_auto_predictor(PredictorName="filled", ForecastHorizon=6, ForecastFrequency="M",
                                   ForecastDimensions=["state"],
                                   DataConfig={"DatasetGroupArn": flow["group"], "AttributeConfigs": configs})
    described = wait(lambda: fc.describe_auto_predictor(PredictorArn=arn["PredictorArn"]))
    assert described["DataConfig"]["AttributeConfigs"] == configs
    ours = httpx.get(f"{server['url']}/v1/predictors/filled").json()
    assert ours["spec"]["dataset"] == "retail-first-filled"
    derived = httpx.get(f"{server['url']}/v1/datasets/retail-first-filled").json()
    assert derived["spec"]["long_format"]["filling"]["middlefill"] == "mean"
    with pytest.raises(fc.exceptions.InvalidInputException, match="price"):
        fc.create_auto_predictor(PredictorName="nofield", ForecastHorizon=6, ForecastFrequency="M",
                                 ForecastDimensions=["state"], DataConfig={"DatasetGroupArn": flow["group"], "AttributeConfigs": [
                                     {"AttributeName": "price", "Transformations": {"futurefill": "zero"}}]})


def test_pagination_and_filters(server: dict[str, Any], flow: dict[str, Any]) -> None:
    fc = client(server, "forecast")
    for name in ("second", "third"):
        fc.create_forecast(ForecastName=name, PredictorArn=flow["predictor"], ForecastTypes=["mean"])
    first = fc.list_forecasts(MaxResults=1)
    assert len(first["Forecasts"]) == 1 and "NextToken" in first
    names = [f["ForecastName"] for page in fc.get_paginator("list_forecasts").paginate(PaginationConfig={"PageSize": 2})
             for f in page["Forecasts"]]
    assert sorted(names) == ["retail_forecast", "second", "third"]
    only = fc.list_forecasts(Filters=[{"Key": "PredictorArn", "Value": flow["predictor"], "Condition": "IS"}])
    assert len(only["Forecasts"]) == 3
    not_first = fc.list_forecasts(Filters=[{"Key": "PredictorArn", "Value": flow["predictor"], "Condition": "IS_NOT"}])
    assert not_first["Forecasts"] == []
    with pytest.raises(fc.exceptions.InvalidNextTokenException):
        fc.list_forecasts(NextToken="not-a-token")


def test_error_types(server: dict[str, Any], flow: dict[str, Any]) -> None:
    fc = client(server, "forecast")
    with pytest.raises(fc.exceptions.ResourceNotFoundException):
        fc.describe_forecast(ForecastArn=flow["forecast"].replace("retail_forecast", "nope"))
    with pytest.raises(fc.exceptions.ResourceAlreadyExistsException):
        fc.create_dataset(DatasetName="retail", Domain="CUSTOM", DatasetType="TARGET_TIME_SERIES",
                          DataFrequency="M", Schema=SCHEMA)
    with pytest.raises(fc.exceptions.ResourceInUseException):
        fc.delete_predictor(PredictorArn=flow["predictor"])  # its forecast uses it
    with pytest.raises(fc.exceptions.InvalidInputException) as prophet:
        fc.create_predictor(PredictorName="prophet", AlgorithmArn="arn:aws:forecast:::algorithm/Prophet",
                            ForecastHorizon=6, InputDataConfig={"DatasetGroupArn": flow["group"]},
                            FeaturizationConfig={"ForecastFrequency": "M", "ForecastDimensions": ["state"]})
    assert "Prophet" in str(prophet.value) and "Deep_AR_Plus" in str(prophet.value)
    with pytest.raises(fc.exceptions.LimitExceededException):
        fc.create_auto_predictor(PredictorName="many", ForecastHorizon=6, ForecastFrequency="M",
                                 ForecastDimensions=["state"],
                                 DataConfig={"DatasetGroupArn": flow["group"], "AdditionalDatasets": [
                                     {"Name": "holiday", "Configuration": {"CountryCode": ["AU"] * 21}}]})
    with pytest.raises(fc.exceptions.InvalidInputException):
        fc.create_auto_predictor(PredictorName="weekly", ForecastHorizon=6, ForecastFrequency="W",
                                 ForecastDimensions=["state"], DataConfig={"DatasetGroupArn": flow["group"]})
    fq = client(server, "forecastquery")
    with pytest.raises(fq.exceptions.ResourceNotFoundException):
        fq.query_forecast(ForecastArn=flow["forecast"], Filters={"item_id": "nope", "state": "Victoria"})
    with pytest.raises(fq.exceptions.InvalidInputException):
        fq.query_forecast(ForecastArn=flow["forecast"], Filters={"item_id": "Food retailing", "store": "3"})


def test_sigv4_signatures(server: dict[str, Any]) -> None:
    import httpx

    assert client(server, "forecast").list_datasets()["Datasets"] is not None  # a valid signature
    with pytest.raises(ClientError) as forged:
        client(server, "forecast", secret="not-the-secret").list_datasets()
    assert forged.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as stranger:
        client(server, "forecast", key="AKIDSOMEONEELSE").list_datasets()
    assert stranger.value.response["Error"]["Code"] == "UnrecognizedClientException"
    unsigned = httpx.post(server["url"] + "/", headers={"X-Amz-Target": "AmazonForecast.ListDatasets",
                                                         "Content-Type": "application/x-amz-json-1.1"}, content=b"{}")
    assert unsigned.status_code == 403 and unsigned.json()["__type"] == "MissingAuthenticationTokenException"


def test_invoke_endpoint(server: dict[str, Any], flow: dict[str, Any]) -> None:
    import json

    sm = client(server, "sagemaker-runtime")
    history = [float(v) for v in server["frame"][server["frame"]["item_id"] == "Food retailing"]["target_value"][:60]]
    holidays = [[0.0] * (len(history) + 6)]  # the predictor's one dynamic feature (holiday_AU), over the horizon too
    request = {"instances": [{"start": "2000-01-01", "target": history, "dynamic_feat": holidays}],
               "configuration": {"num_samples": 50, "output_types": ["mean", "quantiles"], "quantiles": ["0.1", "0.9"]}}
    direct = sm.invoke_endpoint(EndpointName="retail_auto", Body=json.dumps(request), ContentType="application/json")
    body = json.loads(direct["Body"].read())
    assert direct["ContentType"] == "application/json"
    assert len(body["predictions"][0]["mean"]) == 6 and set(body["predictions"][0]["quantiles"]) == {"0.1", "0.9"}
    multi = sm.invoke_endpoint(EndpointName="multi-model", TargetModel="retail_auto.tar.gz", Body=json.dumps(request),
                               ContentType="application/json", Accept="application/jsonlines")
    lines = multi["Body"].read().decode().splitlines()
    assert multi["ContentType"] == "application/jsonlines" and len(lines) == 1
    assert len(json.loads(lines[0])["mean"]) == 6
    with pytest.raises(sm.exceptions.ValidationError):
        sm.invoke_endpoint(EndpointName="nope", Body=json.dumps(request), ContentType="application/json")
    with pytest.raises(sm.exceptions.ValidationError):
        sm.invoke_endpoint(EndpointName="retail_auto", Body=b"not json", ContentType="application/json")


def test_week_two_monitor_incremental_import_and_retraining(server: dict[str, Any], flow: dict[str, Any]) -> None:
    """The managed service's second week: a monitor of the predictor, the next months' actuals as an
    INCREMENTAL import, the monitor's evaluation of the forecast (its wQL, WAPE and coverage equal
    what this test computes from QueryForecast and the CSV it imported), stopping and resuming the
    monitor, a retraining from the predictor as reference, and MonitorConfig at creation."""
    import numpy as np

    fc = client(server, "forecast")
    monitor = fc.create_monitor(MonitorName="retail_monitor", ResourceArn=flow["predictor"])["MonitorArn"]
    wait(lambda: fc.describe_monitor(MonitorArn=monitor))
    assert fc.describe_auto_predictor(PredictorArn=flow["predictor"])["MonitorInfo"]["MonitorArn"] == monitor
    assert fc.list_monitor_evaluations(MonitorArn=monitor)["PredictorMonitorEvaluations"] == []  # no actuals yet
    job = fc.create_dataset_import_job(
        DatasetImportJobName="next", DatasetArn=flow["dataset"], TimestampFormat="yyyy-MM-dd", ImportMode="INCREMENTAL",
        DataSource={"S3Config": {"Path": f"s3://{server['bucket']}/retail/next.csv", "RoleArn": "arn:aws:iam::1:role/x"}},
    )["DatasetImportJobArn"]
    assert wait(lambda: fc.describe_dataset_import_job(DatasetImportJobArn=job))["ImportMode"] == "INCREMENTAL"

    evaluations = [e for e in fc.list_monitor_evaluations(MonitorArn=monitor)["PredictorMonitorEvaluations"]
                   if e["MonitorDataSource"]["ForecastArn"] == flow["forecast"]]
    assert len(evaluations) == 1
    e = evaluations[0]
    assert e["EvaluationState"] == "SUCCESS" and e["MonitorDataSource"]["DatasetImportJobArn"] == job
    later = server["later"]
    assert e["NumItemsEvaluated"] == later.groupby(["item_id", "state"]).ngroups
    metrics = {m["MetricName"]: m["MetricValue"] for m in e["MetricResults"]}

    # the same figures, computed here from the forecast as QueryForecast answers it and the actuals
    fq = client(server, "forecastquery")
    levels = (0.1, 0.5, 0.9)
    losses, covered, abs_y, abs_err, points = np.zeros(3), np.zeros(3), 0.0, 0.0, 0
    for (item, state), rows in later.groupby(["item_id", "state"]):
        predictions = fq.query_forecast(ForecastArn=flow["forecast"],
                                        Filters={"item_id": item, "state": state})["Forecast"]["Predictions"]
        by_time = {p["Timestamp"][:10]: i for i, p in enumerate(predictions["mean"])}
        for stamp, y in zip(rows["timestamp"], rows["target_value"], strict=True):
            i = by_time[stamp]
            for k, q in enumerate(levels):
                f = predictions[f"p{int(q * 100)}"][i]["Value"]
                losses[k] += max(q * (y - f), (q - 1) * (y - f))
                covered[k] += y < f
            abs_y += abs(y)
            abs_err += abs(y - predictions["mean"][i]["Value"])
            points += 1
    wql = 2 * losses / abs_y
    assert metrics["AverageWeightedQuantileLoss"] == pytest.approx(wql.mean(), rel=1e-4)
    assert [metrics[f"WeightedQuantileLoss_{q:g}"] for q in levels] == pytest.approx(wql, rel=1e-4)
    assert metrics["WAPE"] == pytest.approx(abs_err / abs_y, rel=1e-4)
    assert [metrics[f"Coverage_{q:g}"] for q in levels] == pytest.approx(covered / points)
    first = min(later["timestamp"])
    assert e["WindowStartDatetime"].strftime("%Y-%m-%d") == first

    # the same evaluation as Prometheus gauges
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    scraped = {(s.name, s.labels.get("monitor"), s.labels.get("quantile")): s.value
               for family in text_string_to_metric_families(httpx.get(f"{server['url']}/metrics").text)
               for s in family.samples}
    every = fc.list_monitor_evaluations(MonitorArn=monitor)["PredictorMonitorEvaluations"]  # newest first
    newest = {m["MetricName"]: m["MetricValue"] for m in every[0]["MetricResults"]}
    assert scraped[("forecast_monitor_wape", "retail_monitor", None)] == pytest.approx(newest["WAPE"])
    assert scraped[("forecast_monitor_evaluations_total", "retail_monitor", None)] == len(every)
    assert scraped[("forecast_monitor_active", "retail_monitor", None)] == 1

    described = fc.describe_monitor(MonitorArn=monitor)
    assert described["LastEvaluationState"] == "SUCCESS" and described["ResourceArn"] == flow["predictor"]
    assert {m["Name"] for m in described["Baseline"]["PredictorBaseline"]["BaselineMetrics"]} >= {
        "AverageWeightedQuantileLoss", "WAPE"}
    fc.stop_resource(ResourceArn=monitor)
    assert fc.describe_monitor(MonitorArn=monitor)["Status"] == "ACTIVE_STOPPED"
    assert [m["Status"] for m in fc.list_monitors(Filters=[{"Key": "Status", "Value": "ACTIVE_STOPPED",
                                                            "Condition": "IS"}])["Monitors"]] == ["ACTIVE_STOPPED"]
    fc.resume_resource(ResourceArn=monitor)
    assert fc.describe_monitor(MonitorArn=monitor)["Status"] == "ACTIVE"
    with pytest.raises(fc.exceptions.InvalidInputException):  # a finished job cannot be stopped
        fc.stop_resource(ResourceArn=flow["forecast"])

    # retraining from a reference, on the dataset's latest version, with a monitor from the start
    retrained = fc.create_auto_predictor(PredictorName="retail_retrained",
                                         ReferencePredictorArn=flow["predictor"])["PredictorArn"]
    done = wait(lambda: fc.describe_auto_predictor(PredictorArn=retrained))
    assert done["ReferencePredictorSummary"] == {"Arn": flow["predictor"], "State": "Active"}
    monitored = fc.create_auto_predictor(
        PredictorName="retail_monitored", ForecastHorizon=6, ForecastFrequency="M", ForecastDimensions=["state"],
        DataConfig={"DatasetGroupArn": flow["group"]}, MonitorConfig={"MonitorName": "retail_watch"})["PredictorArn"]
    info = fc.describe_auto_predictor(PredictorArn=monitored)["MonitorInfo"]
    assert info["MonitorArn"].endswith(":monitor/retail_watch") and info["Status"] == "ACTIVE"
    with pytest.raises(fc.exceptions.ResourceAlreadyExistsException):
        fc.create_monitor(MonitorName="retail_watch", ResourceArn=flow["predictor"])
    wait(lambda: fc.describe_auto_predictor(PredictorArn=monitored))
    fc.delete_monitor(MonitorArn=monitor)
    with pytest.raises(fc.exceptions.ResourceNotFoundException):
        fc.describe_monitor(MonitorArn=monitor)

    # a FULL import replaces the dataset's data: the next forecast of the same predictor reads it
    full = fc.create_dataset_import_job(
        DatasetImportJobName="everything", DatasetArn=flow["dataset"], TimestampFormat="yyyy-MM-dd",
        DataSource={"S3Config": {"Path": f"s3://{server['bucket']}/retail/all.csv", "RoleArn": "arn:aws:iam::1:role/x"}},
    )["DatasetImportJobArn"]
    wait(lambda: fc.describe_dataset_import_job(DatasetImportJobArn=full))
    latest = fc.create_forecast(ForecastName="after_full", PredictorArn=flow["predictor"])["ForecastArn"]
    wait(lambda: fc.describe_forecast(ForecastArn=latest))
    assert httpx.get(f"{server['url']}/v1/forecasts/after_full").json()["spec"]["dataset"] == "retail-everything"
    first = fq.query_forecast(ForecastArn=latest, Filters={"item_id": "Food retailing", "state": "Victoria"})
    assert first["Forecast"]["Predictions"]["p50"][0]["Timestamp"][:10] > max(later["timestamp"])


def test_an_import_says_what_it_changed_and_proposes_the_format(server: dict[str, Any], flow: dict[str, Any]) -> None:
    """Over the AWS API: an import whose file has an empty value and two rows of one period says
    so (FieldStatistics, Message); a file in another timestamp format fails proposing the
    TimestampFormat that reads it; a header row is called one."""
    fc = client(server, "forecast")
    frame = server["frame"]
    rows = frame[frame["item_id"] == "Food retailing"].copy()
    rows.iloc[5, rows.columns.get_loc("target_value")] = None
    messy = pd.concat([rows, rows.iloc[[7]]])
    fs, bucket = server["fs"], server["bucket"]
    with fs.open(f"{bucket}/retail/messy.csv", "w") as f:
        messy.to_csv(f, index=False, header=False)
    with fs.open(f"{bucket}/retail/months.csv", "w") as f:
        rows.assign(timestamp=pd.to_datetime(rows["timestamp"]).dt.strftime("%Y %b")).to_csv(f, index=False, header=False)
    with fs.open(f"{bucket}/retail/header.csv", "w") as f:
        rows.to_csv(f, index=False)
    ds = fc.create_dataset(DatasetName="messy", Domain="CUSTOM", DatasetType="TARGET_TIME_SERIES", DataFrequency="M",
                           Schema=SCHEMA)["DatasetArn"]

    def imported(job: str, path: str, **extra: Any) -> dict[str, Any]:
        arn = fc.create_dataset_import_job(
            DatasetImportJobName=job, DatasetArn=ds, DataSource={"S3Config": {
                "Path": f"s3://{bucket}/retail/{path}", "RoleArn": "arn:aws:iam::1:role/x"}}, **extra,
        )["DatasetImportJobArn"]
        deadline = time.monotonic() + 120
        while (body := fc.describe_dataset_import_job(DatasetImportJobArn=arn))["Status"] not in (
                "ACTIVE", "CREATE_FAILED"):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        return body

    done = imported("messy_one", "messy.csv", TimestampFormat="yyyy-MM-dd")
    assert done["Status"] == "ACTIVE"
    assert done["FieldStatistics"]["target_value"]["CountNull"] == 1
    assert "1 empty value(s)" in done["Message"] and "1 period(s) whose 2 rows were combined" in done["Message"]
    failed = imported("months", "months.csv", TimestampFormat="yyyy-MM-dd")
    assert failed["Status"] == "CREATE_FAILED"
    assert "TimestampFormat 'yyyy MMM' reads it" in failed["Message"] and "--timestamp-format" not in failed["Message"]
    assert "more rows like this" in failed["Message"]
    header = imported("header", "header.csv", TimestampFormat="yyyy-MM-dd")
    assert header["Status"] == "CREATE_FAILED" and "looks like a header row" in header["Message"]


def test_every_response_was_checked_against_its_shape() -> None:
    assert {"CreateDataset", "DescribeDatasetImportJob", "CreateAutoPredictor", "DescribeAutoPredictor",
            "GetAccuracyMetrics", "DescribeForecast", "QueryForecast", "ListForecasts", "InvokeEndpoint",
            "DescribeMonitor", "ListMonitors", "ListMonitorEvaluations"} <= set(CHECKED)



def test_a_server_with_an_api_key_needs_sigv4_keys_for_the_aws_endpoints(tmp_path: Any) -> None:
    """No open door: with FORECAST_API_KEY set and no FORECAST_AWS_* keys, POST / and /endpoints/
    refuse every request in the service's terms; the lookup page at GET / stays open."""
    from fastapi.testclient import TestClient

    settings = Settings(home=str(tmp_path / "home"), registry=str(tmp_path / "registry.db"),  # type: ignore[call-arg]
                        api_key="k")
    with TestClient(create_app(settings)) as http:
        r = http.post("/", headers={"X-Amz-Target": "AmazonForecast.ListDatasets"}, content=b"{}")
        assert r.status_code == 403 and r.json()["__type"] == "UnrecognizedClientException"
        r = http.post("/endpoints/p/invocations", content=b"{}", headers={"Content-Type": "application/json"})
        assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
        assert http.get("/").status_code == 200
        unknown = TestClient(create_app(Settings(home=str(tmp_path / "h2"), registry=str(tmp_path / "r2.db"))))  # type: ignore[call-arg]
        with unknown:
            r = unknown.post("/", headers={"X-Amz-Target": "AmazonForecast.NoSuchThing"}, content=b"{}")
            assert r.status_code == 400 and r.json()["__type"] == "UnknownOperationException"
            r = unknown.post("/", headers={"X-Amz-Target": "AmazonForecast.CreateExplainability"}, content=b"{}")
            assert r.status_code == 400 and "not supported" in r.json()["Message"]
            r = unknown.post("/", headers={"X-Amz-Target": "AmazonForecast.CreateDataset"}, content=b'{"DatasetName": 3}')
            assert r.status_code == 400 and r.json()["__type"] == "InvalidInputException"


def test_perform_hpo(server: dict[str, Any], flow: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """CreatePredictor with PerformHPO: the predictor runs a tuning job over HPOConfig's ranges and
    trains with its best setting, which DescribePredictor's TrainingParameters give; the search's
    trials are not listed as predictors; HPOConfig's mistakes are InvalidInputException."""
    import api.aws.predictors_api
    from api.runtime import build_runtime

    monkeypatch.setattr(api.aws.predictors_api, "HPO_TRIALS", 3)
    fc = client(server, "forecast")
    common = {"AlgorithmArn": "arn:aws:forecast:::algorithm/Deep_AR_Plus", "ForecastHorizon": 6,
              "InputDataConfig": {"DatasetGroupArn": flow["group"]},
              "FeaturizationConfig": {"ForecastFrequency": "M", "ForecastDimensions": ["state"]},
              "TrainingParameters": {"epochs": "2", "num_batches_per_epoch": "3"}}
    config = {"ParameterRanges": {
        "IntegerParameterRanges": [{"Name": "num_cells", "MinValue": 4, "MaxValue": 16, "ScalingType": "Linear"}],
        "CategoricalParameterRanges": [{"Name": "likelihood", "Values": ["student-T", "gaussian"]}]}}
    arn = fc.create_predictor(PredictorName="tuned", PerformHPO=True, HPOConfig=config, **common)["PredictorArn"]
    described = wait(lambda: fc.describe_predictor(PredictorArn=arn), timeout=600)
    assert described["PerformHPO"] is True and described["HPOConfig"] == config
    job = build_runtime(server["settings"]).registry.get(Kind.TUNING_JOB, "tuned-hpo")
    best = job.result["best"]["params"]
    assert len(job.result["trials"]) == 3
    assert described["TrainingParameters"] == {"epochs": "2", "num_batches_per_epoch": "3",
                                               "num_cells": str(best["num_cells"]), "likelihood": best["likelihood"]}
    listed = {p["PredictorName"] for p in fc.list_predictors()["Predictors"]}
    assert "tuned" in listed and not any(n.startswith("tuned-hpo-") for n in listed)
    for bad, fragment in [({"HPOConfig": config}, "HPOConfig needs PerformHPO true"),
                          ({"PerformHPO": True, "HPOConfig": {"ParameterRanges": {"CategoricalParameterRanges": [
                              {"Name": "colour", "Values": ["red"]}]}}}, "['colour'] are not supported")]:
        with pytest.raises(fc.exceptions.InvalidInputException) as e:
            fc.create_predictor(PredictorName="bad", **bad, **common)
        assert fragment in str(e.value)

"""The Lambda handlers (functions/*/app.py) against moto's S3 and SSM.

Providers are replaced by small fakes here only where a real one cannot produce the case
(a provider timing out, a name the offline index cannot fail on); the end-to-end tests run
the real providers and model.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from raincast import lambda_adapter
from raincast.errors import ProviderError, ProviderTimeout
from raincast.geocoding.base import Geocoder, GeocodeResult, Place, Query
from raincast.pipeline.records import DEFAULT_GEOCODER, DEFAULT_WEATHER
from raincast.retry import RetryPolicy
from raincast.weather.base import Observation, WeatherResult, WeatherSource

ROOT = Path(__file__).resolve().parents[2]
INPUT_BUCKET = "raincast-input-test"
RESULTS_BUCKET = "raincast-results-test"
SETTINGS = {"run_id": "run-1", "date": "2016-06-01", "weather": "replay", "geocoder": "geonames"}


@dataclass
class FakeContext:
    function_name: str = "fn"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_handler(name: str) -> ModuleType:
    """Imports functions/<name>/app.py under a unique module name (all are called app)."""
    spec = importlib.util.spec_from_file_location(
        f"raincast_test_fn_{name}_{uuid.uuid4().hex}", ROOT / "functions" / name / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# The per-environment caches, as defined (tests may monkeypatch the module attributes).
CACHED = (lambda_adapter.s3_client, lambda_adapter.geocoder, lambda_adapter.weather_source)


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("RESULTS_BUCKET", RESULTS_BUCKET)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RaincastTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "raincast-test")
    for cached in CACHED:
        cached.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=INPUT_BUCKET)
        s3.create_bucket(Bucket=RESULTS_BUCKET)
        yield s3
    for cached in CACHED:
        cached.cache_clear()


def item(index: int, city: str, **extra: Any) -> dict[str, Any]:
    return {"index": index, "line": index + 2, "city": city, "country": None, "lat": None,
            "lon": None, "status": "ok", "reason": None, **extra}  # fmt: skip


SYDNEY = Place("Sydney", "AU", "02", -33.87, 151.21, "Australia/Sydney", 4_627_345, 2147714)


FAST_RETRY = RetryPolicy(base_delay=0.001, max_delay=0.002)


class FakeGeocoder(Geocoder):
    """A provider on the real base (validation, cache, retries): only ``_geocode`` is fake."""

    name = "fake"

    def __init__(self, fail_with: Exception | None = None) -> None:
        super().__init__(retry=FAST_RETRY)
        self.fail_with = fail_with
        self.queries: list[str] = []

    def _geocode(self, query: Query) -> GeocodeResult:
        self.queries.append(query.text)
        if self.fail_with:
            raise self.fail_with
        if query.text == "Broken":
            raise ProviderError("fake", "answer could not be parsed")
        if query.text.startswith("Sydney"):
            return self._found(query, [SYDNEY])
        return self._not_found(query, f"not found: {query.text!r}")


# -- prepare -----------------------------------------------------------------------------


def prepare_event(request: Any, name: str = "exec-1") -> dict[str, Any]:
    return {
        "input": request,
        "execution_name": name,
        "execution_id": f"arn:aws:states:::execution:sm:{name}",
    }


def test_prepare_normalises_the_list_into_jsonl(aws, monkeypatch) -> None:
    monkeypatch.setattr(lambda_adapter, "default_date", lambda weather: "2016-06-25")
    aws.put_object(
        Bucket=INPUT_BUCKET, Key="incoming/aus.csv", Body=b"city,country\nSydney,AU\n,AU\n"
    )
    app = load_handler("prepare")
    out = app.lambda_handler(
        prepare_event({"bucket": INPUT_BUCKET, "key": "incoming/aus.csv", "trigger": "s3"}),
        FakeContext(),
    )
    assert out["ok"] is True
    assert out["settings"]["run_id"] == "exec-1"  # the execution name by default
    assert out["settings"]["date"] == "2016-06-25"
    assert out["settings"]["trigger"] == "s3"
    assert out["items"] == {"bucket": RESULTS_BUCKET, "key": "runs/exec-1/input/cities.jsonl"}
    assert (out["count"], out["invalid_rows"]) == (2, 1)
    body = aws.get_object(Bucket=RESULTS_BUCKET, Key="runs/exec-1/input/cities.jsonl")[
        "Body"
    ].read()
    lines = [json.loads(x) for x in body.decode().splitlines()]
    assert [(x["city"], x["status"]) for x in lines] == [("Sydney", "ok"), ("", "error")]


def test_prepare_inline_list_with_run_id_and_date(aws) -> None:
    app = load_handler("prepare")
    out = app.lambda_handler(
        prepare_event(
            {"cities": ["Perth"], "run_id": "my-run", "date": "2015-01-02", "weather": "replay"}
        ),
        FakeContext(),
    )
    assert (
        out["ok"]
        and out["settings"]["run_id"] == "my-run"
        and out["settings"]["date"] == "2015-01-02"
    )
    assert out["source"] == {"inline": True}


def test_prepare_unwraps_the_start_apis_request(aws) -> None:
    # The API's mapping template sends {"trigger": "api", "request": <validated body>}.
    app = load_handler("prepare")
    wrapped = {"trigger": "api", "request": {"cities": ["Perth"], "run_id": "from-api"}}
    out = app.lambda_handler(prepare_event(wrapped), FakeContext())
    assert out["ok"] is True
    assert (out["settings"]["trigger"], out["settings"]["run_id"]) == ("api", "from-api")
    assert out["count"] == 1
    # Anything else with a "request" key is not the wrapper and is refused as unknown.
    odd = {"trigger": "api", "request": {"cities": ["Perth"]}, "cities": ["Hobart"]}
    refused = app.lambda_handler(prepare_event(odd), FakeContext())
    assert refused["ok"] is False and "unknown input field(s) request" in refused["message"]


@pytest.mark.parametrize(
    ("request_", "body", "error", "message"),
    [
        (
            {"bucket": INPUT_BUCKET, "key": "incoming/x.csv"},
            b"\x00\x01\x02binary",
            "InvalidCityList",
            "binary",
        ),
        (
            {"bucket": INPUT_BUCKET, "key": "incoming/x.csv"},
            b"name\nSydney\n",
            "InvalidCityList",
            "no 'city' column",
        ),
        (
            {"bucket": INPUT_BUCKET, "key": "incoming/missing.csv"},
            None,
            "InvalidRequest",
            "NoSuchKey",
        ),
        (
            {"cities": ["A"], "weather": "sunshine"},
            None,
            "InvalidRequest",
            "unknown weather 'sunshine'",
        ),
        ({"cities": ["A"], "date": "yesterday"}, None, "InvalidRequest", "YYYY-MM-DD"),
        ({"cities": ["A"], "run_id": "../etc"}, None, "InvalidRequest", "run id"),
        ({"cities": ["A"], "bucket": "b", "key": "k"}, None, "InvalidRequest", "either"),
        ({"cities": ["A"], "colour": "red"}, None, "InvalidRequest", "unknown input field"),
    ],
)
def test_prepare_rejects_bad_input_clearly(
    aws, monkeypatch, request_, body, error, message
) -> None:
    monkeypatch.setattr(lambda_adapter, "default_date", lambda weather: "2016-06-25")
    if body is not None:
        aws.put_object(Bucket=INPUT_BUCKET, Key=request_["key"], Body=body)
    out = load_handler("prepare").lambda_handler(prepare_event(request_), FakeContext())
    assert out["ok"] is False
    assert out["error"] == error
    assert message in out["message"]
    assert "Contents" not in aws.list_objects_v2(Bucket=RESULTS_BUCKET)  # nothing written


# -- geocode / weather / predict: per-item errors flow, retryable errors raise ----------------


def test_geocode_marks_unknown_cities_and_keeps_going(monkeypatch) -> None:
    fake = FakeGeocoder()
    monkeypatch.setattr(lambda_adapter, "geocoder", lambda name: fake)
    event = {
        "Items": [
            item(0, "Sydney"),
            item(1, "Atlantis"),
            item(2, "Broken"),
            item(3, "Given", lat=-10.5, lon=130.25, country="AU"),
            item(4, "", status="error", reason="bad row: empty city name (line 6)"),
        ],
        "BatchInput": SETTINGS,
    }
    out = load_handler("geocode").lambda_handler(event, FakeContext())
    items = out["items"]
    assert out["batch"]["batch_id"] == "00000-00004"
    assert items[0]["place"]["name"] == "Sydney" and items[0]["status"] == "ok"
    assert (items[1]["status"], items[1]["reason"]) == ("error", "not found: 'Atlantis'")
    assert items[2]["reason"] == "geocoder failed: fake: answer could not be parsed"
    assert items[3]["place"]["lat"] == -10.5 and items[3]["status"] == "ok"  # no lookup
    assert items[4]["reason"] == "bad row: empty city name (line 6)"  # untouched
    assert fake.queries == ["Sydney", "Atlantis", "Broken"]


def test_geocode_raises_retryable_provider_errors(monkeypatch) -> None:
    monkeypatch.setattr(
        lambda_adapter, "geocoder", lambda name: FakeGeocoder(ProviderTimeout("fake", "took 10 s"))
    )
    with pytest.raises(ProviderTimeout):
        load_handler("geocode").lambda_handler(
            {"Items": [item(0, "Sydney")], "BatchInput": SETTINGS}, FakeContext()
        )


def test_geocode_rejects_an_event_that_is_not_a_batch() -> None:
    from aws_lambda_powertools.utilities.validation.exceptions import SchemaValidationError

    with pytest.raises(SchemaValidationError):
        load_handler("geocode").lambda_handler({"cities": ["Sydney"]}, FakeContext())


class FakeWeather(WeatherSource):
    name = "fake"

    def __init__(self, fail_with: Exception | None = None) -> None:
        super().__init__(retry=FAST_RETRY)
        self.fail_with = fail_with

    def _observe(self, lat: float, lon: float, date: dt.date) -> WeatherResult:
        if self.fail_with:
            raise self.fail_with
        if lat < 0:
            obs = Observation(date, min_temp=12.0, max_temp=20.0, rainfall=3.2, humidity_3pm=70.0,
                              source={"station": "Sydney"})  # fmt: skip
            before = Observation(date - dt.timedelta(days=1), rainfall=0.0, pressure_3pm=1020.5)
            return WeatherResult(lat, lon, date, obs, provider="fake", previous=before)
        return WeatherResult(
            lat, lon, date, None, reason="no observations near here: 9000 km", provider="fake"
        )


def geocoded_batch() -> dict[str, Any]:
    north = {**SYDNEY.to_dict(), "lat": 51.5, "lon": -0.1, "name": "London"}
    return {
        "batch": {**SETTINGS, "batch_id": "00000-00002"},
        "items": [
            item(0, "Sydney", place=SYDNEY.to_dict()),
            item(1, "London", place=north),
            item(2, "Atlantis", status="error", reason="not found: 'Atlantis'"),
        ],
    }


def test_weather_observes_each_place_on_the_run_date(monkeypatch) -> None:
    monkeypatch.setattr(lambda_adapter, "weather_source", lambda name: FakeWeather())
    out = load_handler("weather").lambda_handler(geocoded_batch(), FakeContext())
    sydney, london, atlantis = out["items"]
    assert (
        sydney["observation"]["date"] == "2016-06-01" and sydney["observation"]["rainfall"] == 3.2
    )
    # the day before travels with the item to Predict
    assert sydney["previous_observation"]["date"] == "2016-05-31"
    assert sydney["previous_observation"]["pressure_3pm"] == 1020.5
    assert london["reason"] == "no observations near here: 9000 km"
    assert atlantis["reason"] == "not found: 'Atlantis'"


def test_weather_raises_retryable_provider_errors(monkeypatch) -> None:
    from raincast.errors import ProviderUnavailable

    monkeypatch.setattr(
        lambda_adapter,
        "weather_source",
        lambda name: FakeWeather(ProviderUnavailable("om", "HTTP 503")),
    )
    with pytest.raises(ProviderUnavailable):
        load_handler("weather").lambda_handler(geocoded_batch(), FakeContext())


class FakeModel:
    def __init__(self) -> None:
        self.metadata = {"version": "test-1", "threshold": 0.5}
        self.calls: list[tuple[int, list[float]]] = []
        self.previous: list[Observation | None] = []

    def predict_observations(
        self, observations: list[Observation], latitudes: Any = None, previous: Any = None
    ) -> list[float]:
        self.calls.append((len(observations), list(latitudes)))
        self.previous.extend(previous)
        return [0.73 if (o.rainfall or 0) > 1 else 0.12 for o in observations]


def test_predict_scores_only_items_with_observations(monkeypatch) -> None:
    monkeypatch.setattr(lambda_adapter, "rain_model", FakeModel)
    app = load_handler("predict")
    batch = geocoded_batch()
    batch["items"][0]["observation"] = Observation(dt.date(2016, 6, 1), rainfall=3.2).to_dict()
    batch["items"][1] = {
        **batch["items"][1],
        "status": "error",
        "reason": "no observations near here: x",
    }
    out = app.lambda_handler(batch, FakeContext())
    assert out["items"][0]["p_rain_tomorrow"] == 0.73
    assert out["items"][0]["rain_tomorrow"] == "yes"
    assert out["items"][0]["model"] == {"version": "test-1", "threshold": 0.5}
    assert "p_rain_tomorrow" not in out["items"][1]
    assert app.MODEL.calls == [(1, [-33.87])]
    assert app.MODEL.previous == [None]  # no day before in the item: none is made up


def test_predict_passes_the_day_before_to_the_model(monkeypatch) -> None:
    monkeypatch.setattr(lambda_adapter, "rain_model", FakeModel)
    monkeypatch.setattr(lambda_adapter, "weather_source", lambda name: FakeWeather())
    observed = load_handler("weather").lambda_handler(geocoded_batch(), FakeContext())
    app = load_handler("predict")
    app.lambda_handler(observed, FakeContext())
    (before,) = app.MODEL.previous
    assert before == Observation(dt.date(2016, 5, 31), rainfall=0.0, pressure_3pm=1020.5)


# -- store and failed batches ----------------------------------------------------------------


def predicted_batch() -> dict[str, Any]:
    batch = geocoded_batch()
    batch["items"][0].update(p_rain_tomorrow=0.73, rain_tomorrow="yes",
                             observation=Observation(dt.date(2016, 6, 1)).to_dict())  # fmt: skip
    batch["items"][1].update(status="error", reason="no observations near here: 9000 km")
    return batch


@pytest.mark.parametrize("name", ["prepare", "store", "summarize"])
def test_the_s3_client_is_made_at_init(aws, name) -> None:
    # At import (Lambda's init phase), not in the first invocation.
    assert lambda_adapter.s3_client.cache_info().currsize == 0
    load_handler(name)
    info = lambda_adapter.s3_client.cache_info()
    assert (info.currsize, info.misses) == (1, 1)


@pytest.mark.parametrize(
    ("name", "make", "default", "loaded"),
    [
        ("geocode", lambda_adapter.geocoder, DEFAULT_GEOCODER, lambda p: p._index is not None),
        (
            "weather",
            lambda_adapter.weather_source,
            DEFAULT_WEATHER,
            lambda p: p._located is not None,
        ),
    ],
)
def test_the_default_providers_data_is_read_at_init(aws, name, make, default, loaded) -> None:
    # At import (Lambda's init phase), as Predict loads its model: in `raincast run` the
    # first Geocode batch took 0.6 s reading the GeoNames index, and the Map started a
    # second Geocode environment, which read it again, while it waited.
    assert make.cache_info().currsize == 0
    load_handler(name)
    assert make.cache_info().currsize == 1
    assert loaded(make(default))


def test_a_provider_that_fails_to_load_at_init_leaves_it_to_the_invocation(
    aws, monkeypatch, caplog
) -> None:
    import raincast.geocoding.geonames as geonames

    def unreadable(path: Any = None) -> Any:
        raise ProviderError("geonames", "cannot read index /nowhere: No such file")

    monkeypatch.setattr(geonames, "load_index", unreadable)
    handler = load_handler("geocode")  # the function still starts
    [warning] = [r for r in caplog.records if r.getMessage() == "provider data not loaded at init"]
    assert warning.levelname == "WARNING" and warning.provider == DEFAULT_GEOCODER
    assert "cannot read index" in warning.error
    # the invocation reports it, as without the load at init: the city says why
    event = {"Items": [item(0, "Sydney")], "BatchInput": SETTINGS}
    out = handler.lambda_handler(event, FakeContext())
    assert out["items"][0]["status"] == "error"
    assert "cannot read index" in out["items"][0]["reason"]


def test_store_writes_one_object_per_batch_by_default(aws) -> None:
    out = load_handler("store").lambda_handler(predicted_batch(), FakeContext())
    keys = [o["Key"] for o in aws.list_objects_v2(Bucket=RESULTS_BUCKET)["Contents"]]
    assert keys == ["runs/run-1/batches/00000-00002.jsonl"]  # one PUT for three cities
    assert {r["key"] for r in out["rows"]} == set(keys)
    body = aws.get_object(Bucket=RESULTS_BUCKET, Key=keys[0])["Body"].read()
    documents = [json.loads(line) for line in body.decode().splitlines()]
    assert [(d["index"], d["city"], d["status"]) for d in documents] == [
        (r["index"], r["city"], r["status"]) for r in out["rows"]
    ]
    assert documents[0]["p_rain_tomorrow"] == 0.73 and documents[0]["forecast_for"] == "2016-06-02"


def test_store_writes_one_document_per_city_and_returns_the_rows(aws, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RESULT_LAYOUT", "city")
    out = load_handler("store").lambda_handler(predicted_batch(), FakeContext())
    rows = out["rows"]
    assert [r["key"] for r in rows] == [
        "runs/run-1/cities/00000-sydney.json",
        "runs/run-1/cities/00001-london.json",
        "runs/run-1/cities/00002-atlantis.json",
    ]
    assert (
        rows[0]["p_rain_tomorrow"] == 0.73
        and rows[0]["place"] == "Sydney"
        and rows[0]["country"] == "AU"
    )
    assert rows[2]["status"] == "error" and rows[2]["reason"] == "not found: 'Atlantis'"
    for row in rows:  # what it says it wrote is there, with the same outcome
        stored = json.loads(aws.get_object(Bucket=RESULTS_BUCKET, Key=row["key"])["Body"].read())
        assert (stored["city"], stored["status"], stored["reason"]) == (
            row["city"],
            row["status"],
            row["reason"],
        )
        assert stored["run_id"] == "run-1" and stored["forecast_for"] == "2016-06-02"
    # Metrics are flushed as EMF on stdout (no AWS needed): cities forecast and errors by reason.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {
        k: scalar(v) for doc in emf for k, v in doc.items() if k in ("CitiesForecast", "CityErrors")
    }
    assert values == {"CitiesForecast": 1.0, "CityErrors": 2.0}
    reasons = {
        doc.get("reason"): scalar(doc["CityErrorsByReason"])
        for doc in emf
        if "CityErrorsByReason" in doc
    }
    assert reasons == {"not found": 1.0, "no observations near here": 1.0}


def scalar(value: Any) -> float:
    return float(value[0] if isinstance(value, list) else value)


def test_store_is_idempotent_for_a_rerun(aws, monkeypatch) -> None:
    monkeypatch.setenv("RESULT_LAYOUT", "city")
    app = load_handler("store")
    first = app.lambda_handler(predicted_batch(), FakeContext())
    second = app.lambda_handler(predicted_batch(), FakeContext())
    assert [r["key"] for r in first["rows"]] == [r["key"] for r in second["rows"]]
    keys = [o["Key"] for o in aws.list_objects_v2(Bucket=RESULTS_BUCKET)["Contents"]]
    assert len(keys) == 3


def test_a_crashed_batch_is_recorded_with_its_failure(aws) -> None:
    cause = json.dumps({"errorMessage": "provider kept timing out", "errorType": "ProviderTimeout"})
    event = {"Items": [item(0, "Sydney"), item(1, "", status="error", reason="bad row: empty")],
             "BatchInput": SETTINGS, "failure": {"Error": "ProviderTimeout", "Cause": cause}}  # fmt: skip
    out = load_handler("store").lambda_handler(event, FakeContext())
    assert out["rows"][0]["reason"] == "batch failed: ProviderTimeout: provider kept timing out"
    assert out["rows"][1]["reason"] == "bad row: empty"
    body = aws.get_object(Bucket=RESULTS_BUCKET, Key=out["rows"][0]["key"])["Body"].read()
    stored = [json.loads(line) for line in body.decode().splitlines()]
    assert [d["status"] for d in stored] == ["error", "error"]
    assert stored[0]["reason"] == out["rows"][0]["reason"]


# -- summarize ----------------------------------------------------------------------------


def write_json(s3: Any, key: str, data: Any) -> None:
    s3.put_object(Bucket=RESULTS_BUCKET, Key=key, Body=json.dumps(data).encode())


def test_summarize_writes_csv_summary_manifest_and_removes_stale_results(aws) -> None:
    expected = [
        item(i, c) for i, c in enumerate(["Sydney", "London", "Atlantis", "Perth", "Hobart"])
    ]
    aws.put_object(Bucket=RESULTS_BUCKET, Key="runs/run-1/input/cities.jsonl",
                   Body="\n".join(json.dumps(x) for x in expected).encode())  # fmt: skip
    stored = load_handler("store").lambda_handler(predicted_batch(), FakeContext())
    # A stale object from an earlier run with the same id and a different list:
    aws.put_object(Bucket=RESULTS_BUCKET, Key="runs/run-1/cities/00007-old.json", Body=b"{}")
    # The Map's ResultWriter output, in AWS's layout: one succeeded batch, one failed batch.
    write_json(
        aws,
        "map-runs/abc/SUCCEEDED_0.json",
        [{"Status": "SUCCEEDED", "Output": json.dumps(stored)}],
    )
    write_json(aws, "map-runs/abc/FAILED_0.json", [{
        "Status": "FAILED", "Error": "States.Timeout", "Cause": "Task timed out after 60.00 seconds",
        "Input": json.dumps({"Items": [expected[3]], "BatchInput": SETTINGS}),
    }])  # fmt: skip
    write_json(aws, "map-runs/abc/manifest.json", {
        "DestinationBucket": RESULTS_BUCKET, "MapRunArn": "arn:x",
        "ResultFiles": {"SUCCEEDED": [{"Key": "map-runs/abc/SUCCEEDED_0.json", "Size": 1}],
                        "FAILED": [{"Key": "map-runs/abc/FAILED_0.json", "Size": 1}], "PENDING": []},
    })  # fmt: skip
    event = {
        "ok": True,
        "settings": {**SETTINGS, "trigger": "cli"},
        "source": {"inline": True},
        "items": {"bucket": RESULTS_BUCKET, "key": "runs/run-1/input/cities.jsonl"},
        "count": 5,
        "map": {
            "MapRunArn": "arn:x",
            "ResultWriterDetails": {"Bucket": RESULTS_BUCKET, "Key": "map-runs/abc/manifest.json"},
        },
    }
    out = load_handler("summarize").lambda_handler(event, FakeContext())
    assert out["total"] == 5 and out["completed"] is True
    assert out["by_status"] == {"error": 4, "ok": 1}
    assert out["errors_by_reason"] == {
        "not found": 1, "no observations near here": 1, "batch failed": 1, "not processed": 1,
    }  # fmt: skip
    csv_text = (
        aws.get_object(Bucket=RESULTS_BUCKET, Key="runs/run-1/forecast.csv")["Body"].read().decode()
    )
    lines = csv_text.splitlines()
    assert (
        lines[0]
        == "index,city,place,country,lat,lon,date,p_rain_tomorrow,rain_tomorrow,status,reason"
    )
    assert lines[1].startswith("0,Sydney,Sydney,AU,-33.87,151.21,2016-06-01,0.73,yes,ok,")
    assert (
        lines[4]
        == "3,Perth,,,,,2016-06-01,,,error,batch failed: States.Timeout: Task timed out after 60.00 seconds"
    )
    assert lines[5] == "4,Hobart,,,,,2016-06-01,,,error,not processed: no result"
    manifest = json.loads(
        aws.get_object(Bucket=RESULTS_BUCKET, Key="runs/run-1/manifest.json")["Body"].read()
    )
    listed = {o["key"] for o in manifest["objects"]}
    actual = {
        o["Key"]
        for o in aws.list_objects_v2(Bucket=RESULTS_BUCKET, Prefix="runs/run-1/")["Contents"]
    }
    assert listed == actual  # every object under the run is listed, and nothing else
    assert manifest["removed_stale"] == ["runs/run-1/cities/00007-old.json"]
    batch = next(o for o in manifest["objects"] if o["kind"] == "batch")
    assert batch == {"key": "runs/run-1/batches/00000-00002.jsonl", "kind": "batch",
                     "indices": [0, 1, 2]}  # fmt: skip


# -- secrets ------------------------------------------------------------------------------


def test_locationiq_key_from_ssm_securestring(monkeypatch) -> None:
    monkeypatch.delenv("LOCATIONIQ_API_KEY", raising=False)
    monkeypatch.setenv("LOCATIONIQ_API_KEY_PARAMETER", "/raincast/locationiq/api-key")
    boto3.client("ssm").put_parameter(
        Name="/raincast/locationiq/api-key", Value="pk.secret", Type="SecureString"
    )
    assert lambda_adapter.locationiq_api_key() == "pk.secret"


def test_locationiq_key_missing_is_a_clear_provider_error(monkeypatch) -> None:
    for name in ("LOCATIONIQ_API_KEY", "LOCATIONIQ_API_KEY_PARAMETER", "LOCATIONIQ_API_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProviderError, match="no API key"):
        lambda_adapter.locationiq_api_key()


def test_prepare_decodes_a_url_encoded_event_key(aws, monkeypatch) -> None:
    monkeypatch.setattr(lambda_adapter, "default_date", lambda weather: "2016-06-25")
    aws.put_object(Bucket=INPUT_BUCKET, Key="incoming/my list.txt", Body=b"Sydney\n")
    request = {"bucket": INPUT_BUCKET, "key": "incoming/my+list.txt", "trigger": "s3"}
    out = load_handler("prepare").lambda_handler(prepare_event(request), FakeContext())
    assert out["ok"] is True and out["count"] == 1


@pytest.mark.parametrize(
    "event",
    [
        {"Items": [item(0, "Sydney")], "BatchInput": SETTINGS},
        {"items": [item(0, "Sydney")], "batch": SETTINGS},
        {"cities": ["Sydney"]},
        {"Items": ["Sydney"]},
        {"items": [], "batch": {"run_id": "r"}},
        {"Items": [], "items": [], "batch": SETTINGS},
    ],
)
def test_batch_events_are_judged_as_powertools_validate_judges_them(event) -> None:
    # The adapter compiles the schema once; powertools' validate compiles it per call.
    from aws_lambda_powertools.utilities.validation import validate
    from aws_lambda_powertools.utilities.validation.exceptions import SchemaValidationError

    try:
        validate(event=event, schema=lambda_adapter.BATCH_EVENT_SCHEMA)
    except SchemaValidationError as exc:
        expected: str | None = str(exc)
    else:
        expected = None
    try:
        lambda_adapter.validate_batch_event(event)
    except SchemaValidationError as exc:
        assert str(exc) == expected
    else:
        assert expected is None

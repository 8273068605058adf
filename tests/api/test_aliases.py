"""An alias moved under load: 32 clients query it over HTTP while it moves between two forecasts;
no request fails and every answer is wholly one forecast's."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from api.runtime import build_runtime
from api.settings import Settings
from forecast.aliases import set_alias
from forecast.store import ForecastCache
from forecast.synthetic import write_synthetic_forecast
from tests.service_fixtures import serving


def test_an_alias_moves_atomically_under_32_clients(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from api.server import create_app

    settings = Settings(home=str(tmp_path / "home"), registry=str(tmp_path / "registry.db"))
    rt = build_runtime(settings)
    for i, name in enumerate(("f1", "f2")):
        write_synthetic_forecast(rt.workspace, rt.registry, name, items=50, horizon=6, types="0.1,0.5,0.9", seed=i)
    cache = ForecastCache(rt.workspace, rt.registry)
    expected = {name: {i: cache.get(name).item(i) for i in ("item_3", "item_7")} for name in ("f1", "f2")}
    set_alias(rt.registry, "demand", "f1")
    answers: list[tuple[str, str, dict]] = []
    failures: list[str] = []
    stop = threading.Event()

    with serving(create_app(settings)) as base:
        def client(k: int) -> None:
            item = ("item_3", "item_7")[k % 2]
            with httpx.Client(base_url=base, timeout=30) as c:
                while not stop.is_set():
                    r = c.get(f"/v1/forecasts/demand/items/{item}")
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                        continue
                    body = r.json()
                    answers.append((body["forecast"], item, body))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(32)]
        for t in threads:
            t.start()
        for n in range(4):  # each move held past the cache's 1 s revalidation, so both forecasts answer
            time.sleep(1.5)
            set_alias(rt.registry, "demand", ("f2", "f1")[n % 2])
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert {f for f, _, _ in answers} == {"f1", "f2"}
    for forecast, item, body in answers:
        want = expected[forecast][item]["predictions"]
        got = body["predictions"]
        assert set(got) == set(want)
        for c in want:
            assert [p["value"] for p in got[c]] == pytest.approx([float(p["value"]) for p in want[c]]), (forecast, item)

"""The lookup page in a real headless Chromium (Debian's package, installed by this set-up when
missing), against the service on a loopback socket: no console errors, no request leaving
127.0.0.1, the API key asked once, prefix search, and the chart's points per series."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.server import create_app
from tests.service_fixtures import World, build_world, serving

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
KEY = "lookup-page-key"


def chromium_path() -> str:
    """Debian's Chromium, installed with apt-get when the machine has none (the project's own
    set-up: CI machines start without it)."""
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, capture_output=True, timeout=900)
        if shutil.which("chromium") is None:  # stale package lists
            subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, capture_output=True, timeout=900)
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("Chromium is not installed and apt-get could not install it (Debian package 'chromium')")
    return found


RETAIL = ["Food retailing", "Liquor retailing"]
LATER_MONTHS = 3  # held back from the retail forecast's data, then imported: actuals over its horizon


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> World:
    """The shared world (Tourism quarterly, DeepAR) plus ``retail``: fpp3 aus_retail turnover of two
    industries by state (dimension ``state``) without its last months, forecast by seasonal naive
    and watched by a monitor, then the last months imported."""
    from datasets import import_dataset
    from datasets.increments import import_increment
    from datasets.long_format import LongFormat
    from datasets.samples import long_frames
    from forecast.config import Hyperparameters
    from forecast.forecasts import create_forecast
    from forecast.monitors import create_monitor
    from forecast.predictors import create_predictor

    root = tmp_path_factory.mktemp("lookup")
    world = build_world(root, samples_dir, api_key=KEY)
    frame = long_frames("aus-retail")["target"]
    frame = frame[frame["item_id"].isin(RETAIL)]
    later = frame["timestamp"] > sorted(frame["timestamp"].unique())[-1 - LATER_MONTHS]
    frame[~later].to_csv(root / "retail.csv", index=False)
    frame[later].to_csv(root / "retail-later.csv", index=False)
    ws, reg = world.runtime.workspace, world.runtime.registry
    import_dataset(ws, reg, "retail", str(root / "retail.csv"), freq="M", long=LongFormat(dimensions=["state"]))
    create_predictor(ws, reg, "retail-naive", dataset="retail",
                     hyperparameters=Hyperparameters(prediction_length=6, algorithm="seasonal_naive"))
    create_forecast(ws, reg, "retail", predictor="retail-naive", types="0.1,0.5,0.9")
    create_monitor(ws, reg, "retail-monitor", "retail-naive")
    import_increment(ws, reg, "retail-later", "retail", str(root / "retail-later.csv"))  # the monitor evaluates
    return world


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    with serving(create_app(world.settings, bind_host="127.0.0.1")) as url:
        yield url


def test_lookup_page_in_chromium(server: str, world: World) -> None:
    from playwright.sync_api import sync_playwright

    from forecast.plot import item_context
    from forecast.store import ForecastCache

    loaded = ForecastCache(world.runtime.workspace, world.runtime.registry).get(world.forecast)
    context = item_context(world.runtime.workspace, world.runtime.registry, loaded, "Q1",
                           limit=max(36, 6 * loaded.horizon))  # the recent history the page asks for
    errors: list[str] = []
    outside: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "401" not in m.text else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: None if r.url.startswith((server, "blob:", "data:")) else outside.append(r.url))
            page.goto(f"{server}/")
            page.wait_for_selector("#key-form:not([hidden])")  # the server has a key: asked once
            page.fill("#key", KEY)
            page.click("#key-form button")
            page.wait_for_function("document.querySelector('#forecast').options.length > 0")
            page.fill("#item", "Q1")
            page.wait_for_function("(window.lookup.suggestions || []).includes('Q12')")  # prefix search
            assert page.evaluate("window.lookup.suggestions[0]") == "Q1"
            page.click("#show")
            page.wait_for_function("window.lookup.item === 'Q1'")
            points = page.evaluate("window.lookup.points")
            assert points["history"] == len(context.history)
            assert {k: points[k] for k in loaded.columns} == dict.fromkeys(loaded.columns, loaded.horizon)
            assert points["backtest p50"] == len(context.backtest) == loaded.horizon
            assert page.locator("#chart canvas").count() == 1
            assert page.locator("#accuracy table").count() == 2
            assert page.get_attribute("#download", "href").startswith("blob:")
            assert page.evaluate("sessionStorage.getItem('forecast-api-key')") == KEY
            page.screenshot(path=str(ARTIFACTS / "lookup-page.png"), full_page=True)
            assert not errors, errors  # the key prompt's 401 aside, nothing went wrong
            page.fill("#item", "nope")
            page.click("#show")
            page.wait_for_function("document.querySelector('#status').textContent.includes('not found')")
            for _ in range(100):  # the browser logs the two 404s it was asked to make (the item and its
                if sum("404" in e for e in errors) >= 2:  # context), perhaps after the status shows:
                    break  # wait for them, so that neither lands after the clear
                page.wait_for_timeout(50)
            errors.clear()

            # A forecast with a dimension: a filter per dimension narrows the search and picks the
            # series of an item id typed without its dimensions.
            page.select_option("#forecast", "retail")
            page.wait_for_selector("#dimensions select[name=state]")
            states = page.eval_on_selector_all("#dimensions select[name=state] option", "os => os.map(o => o.value)")
            assert states[0] == "" and "Victoria" in states and len(states) == 1 + 8
            page.select_option("#dimensions select[name=state]", "Victoria")
            page.fill("#item", "")
            page.wait_for_function("JSON.stringify(window.lookup.suggestions) === "
                                   "JSON.stringify(['Food retailing|state=Victoria', 'Liquor retailing|state=Victoria'])")
            page.fill("#item", "Liquor retailing")
            page.click("#show")
            page.wait_for_function("window.lookup.item === 'Liquor retailing|state=Victoria'")
            points = page.evaluate("window.lookup.points")
            assert points["p50"] == 6 and points["actuals since"] == LATER_MONTHS  # over the forecast
            assert "state=Victoria" in page.text_content("#summary")
            assert f"{LATER_MONTHS} actuals have arrived" in page.text_content("#summary")
            page.wait_for_function("document.querySelectorAll('#accuracy table').length === 3")
            assert "monitor retail-monitor" in page.text_content("#accuracy")  # the item's live figures
            page.screenshot(path=str(ARTIFACTS / "lookup-page-actuals.png"), full_page=True)
            # the address names what is shown, dimensions included: opening it shows the same series
            address = page.url
            assert "state=Victoria" in address and "forecast=retail" in address
            page.goto(f"{server}/")
            page.goto(address)
            page.wait_for_function("window.lookup.item === 'Liquor retailing|state=Victoria'")
            assert page.eval_on_selector("#dimensions select[name=state]", "s => s.value") == "Victoria"
            assert not errors, errors
        finally:
            browser.close()
    assert not outside, outside
    assert (ARTIFACTS / "lookup-page.png").stat().st_size > 20_000


def test_a_dimensioned_item_in_the_backtest(server: str) -> None:
    """``backtest?item_id=`` takes an item and its dimension values, as the query does, and answers
    an ambiguous item with the values to choose from."""
    import httpx

    auth = {"Authorization": f"Bearer {KEY}"}
    url = f"{server}/v1/predictors/retail-naive/backtest"
    ambiguous = httpx.get(url, params={"item_id": "Food retailing"}, headers=auth)
    assert ambiguous.status_code == 422 and "Victoria" in str(ambiguous.json()["detail"])
    one = httpx.get(url, params={"item_id": "Food retailing", "where": "state=Victoria"}, headers=auth).json()
    assert {i["item_id"] for i in one["items"]} == {"Food retailing|state=Victoria"} and one["points"]
    by_key = httpx.get(url, params={"item_id": "Food retailing|state=Victoria"}, headers=auth).json()
    assert by_key["items"] == one["items"]
    assert httpx.get(url, params={"item_id": "Food retailing", "where": "state=Nowhere"},
                     headers=auth).status_code == 404

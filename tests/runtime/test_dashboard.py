"""The live dashboard at /ui/, end to end: `faasml up` on the reference stack (three of its
functions, real models) and a real headless chromium that loads the page, sees the
reference variants, watches requests arrive and the selector's decisions appear, on a
laptop-sized and a phone-sized window; and the page's decisions route on a selector
whose API keys are on (a trivial executor)."""
from __future__ import annotations

import base64
import json
import re
import time

import pytest
import requests

from faasml.launch import LocalPlatform

from tests.selector.runtime_stage import cat_image, keyed_echo_stage

from .browser import headless_chromium

VARIANTS = ("efficientnet-lite0-int8", "efficientnet-lite2-fp32")
PASSWORD = "dashboard-test"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference_platform(tmp_path_factory, reference_models):
    folder = tmp_path_factory.mktemp("dashboard")
    # Exploration off: the page is expected to show a fast client on the fast variant, and
    # the shipped profiles come from another machine, which ours would explore first.
    with LocalPlatform(folder, only=("selector", *VARIANTS), password=PASSWORD,
                       env={"FAASML_EXPLORE_S": "0", "FAASML_EXPLORE_AGED_S": "0"}) as platform:
        platform.wait_ready("image-classification")
        # and the selector excludes none of the variants the page is expected to show
        platform.wait_for(lambda: all(
            requests.get(f"{platform.url}/function/selector?task=image-classification&variant={name}&explain=1",
                         timeout=2).json()["candidates"][0]["excluded"] is None for name in VARIANTS),
            120, "every variant choosable")
        yield platform.url


def wait_for(driver, script: str, timeout_s: float = 20.0):
    """Poll a JavaScript expression in the page until it is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        assert time.monotonic() < deadline, f"page never showed: {script}"
        time.sleep(0.2)


ROW_TEXT = "[...document.querySelectorAll('{selector}')].map(r => r.innerText)"


def test_page_needs_the_gateway_password(reference_platform):
    refused = requests.get(f"{reference_platform}/ui/", timeout=5)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert refused.json()["error"]["message"] == "basic auth required for /ui/ (user admin)"
    root = requests.get(f"{reference_platform}/", timeout=5, allow_redirects=False)   # open, as OpenFaaS's
    assert root.status_code == 301 and root.headers["Location"] == "/ui/"
    assert requests.get(f"{reference_platform}/ui/api/state", auth=("admin", "wrong"), timeout=5).status_code == 401
    page = requests.get(f"{reference_platform}/ui/", auth=("admin", PASSWORD), timeout=5)
    assert page.status_code == 200 and "faasml dashboard" in page.text
    missing = requests.get(f"{reference_platform}/ui/nope.js", auth=("admin", PASSWORD), timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_dashboard_shows_variants_and_follows_requests_live(reference_platform, tmp_path):
    driver = headless_chromium(password=PASSWORD)
    try:
        driver.get(f"{reference_platform}/ui/")
        for name in VARIANTS:   # the reference variants, each with its replica on its node
            wait_for(driver, f"document.querySelector('tr[data-function=\"{name}\"]')")
        rows = wait_for(driver, ROW_TEXT.format(selector="#functions tbody tr"))
        assert any("efficientnet-lite0-int8" in r and "edge 1/1" in r for r in rows), rows
        assert any("efficientnet-lite2-fp32" in r and "cloud 1/1" in r for r in rows), rows
        # Until the first poll answers the dot is plain "dot" (truthy): wait for its verdict.
        state = "document.querySelector('#connection').className"
        assert wait_for(driver, f"{state} !== 'dot' && {state}") == "dot live"
        before = driver.execute_script("return document.querySelectorAll('#decisions tbody tr').length")

        image = cat_image()
        url = f"{reference_platform}/function/selector?task=image-classification"
        for tradeoff in (0, 1, 0, 1):
            answer = requests.post(f"{url}&tradeoff={tradeoff}", data=image,
                                   headers={"Content-Type": "image/jpeg"}, timeout=30)
            assert answer.status_code == 200, answer.text
        refused = requests.post(f"{url}&min_accuracy=0.99", data=image, timeout=30)
        assert refused.status_code == 422

        # The decisions appear: a fast client on the int8 edge variant, an accurate one on
        # lite2, the 422 last.
        wait_for(driver, f"document.querySelectorAll('#decisions tbody tr').length >= {before + 5}")
        decisions = driver.execute_script("return " + ROW_TEXT.format(selector="#decisions tbody tr"))
        assert any("fast (0)" in d and "efficientnet-lite0-int8" in d for d in decisions), decisions
        assert any("accurate (1)" in d and "efficientnet-lite2-fp32" in d for d in decisions), decisions
        assert "infeasible" in decisions[0]
        # Each of the four answers counted on the variant that gave it (which one depends
        # on the load the selector sees: an accurate client may get lite0 when lite2 is busy).
        counts = " + ".join(f"Number(document.querySelector('tr[data-function=\"{name}\"] .invocations').innerText)"
                            for name in VARIANTS)
        wait_for(driver, f"{counts} >= 4")

        # The live charts: requests per second of a variant that answered, the latency
        # percentiles and the predicted and actual medians of the selector's answers.
        series = "[...document.querySelectorAll('#{chart} polyline, #{chart} circle')].length"
        for chart in ("chart-latency", "chart-prediction"):
            wait_for(driver, series.format(chart=chart) + " > 0")
        plotted = driver.execute_script(
            "return [...document.querySelectorAll('#chart-latency polyline, #chart-prediction polyline')]"
            ".map(p => p.dataset.series)")
        assert {"p50", "p95", "p99", "predicted (median)", "actual (median)"} <= set(plotted), plotted
        wait_for(driver, "[...document.querySelectorAll('#chart-rps polyline')].some(p => "
                         f"{list(VARIANTS)!r}.includes(p.dataset.series) && Number(p.dataset.points) >= 2)")
        # The selector's calibration: median and p90 of actual / predicted, as its
        # /decisions gives them (the page computes nothing of its own).
        summary = wait_for(driver, "(t => t.includes('p90') && t)(document.querySelector('#decision-summary').innerText)")
        calibration = requests.get(f"{reference_platform}/function/selector/decisions?limit=0", timeout=10).json()["calibration"]
        shown = re.search(r"median ([0-9.]+)×, p90 ([0-9.]+)×", summary)
        assert calibration["answered"] >= 4 and shown, summary
        assert float(shown[1]) == pytest.approx(calibration["actual_over_predicted_p50"], abs=0.006), summary
        assert float(shown[2]) == pytest.approx(calibration["actual_over_predicted_p90"], abs=0.006), summary
        legend = driver.execute_script("return document.querySelector('#legend').innerText")
        assert "1.5×" in legend and "unschedulable" in legend and "refused" in legend
        driver.save_screenshot(str(tmp_path / "dashboard.png"))

        # A phone: the same page in one column, nothing wider than the screen.
        driver.set_window_size(390, 844)
        time.sleep(1.5)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than a phone's screen"
        assert driver.execute_script("return getComputedStyle(document.querySelector('th.wide')).display") == "none"
        driver.save_screenshot(str(tmp_path / "dashboard-phone.png"))
    finally:
        driver.quit()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def test_the_page_works_opened_with_the_credentials_in_its_address(reference_platform):
    """http://admin:PASSWORD@host/ui/ : the browser authenticates the page from its
    address, and the page's polls (which fetch() cannot build from an address with
    credentials in it) still reach the gateway and fill the tables."""
    host = reference_platform.removeprefix("http://")
    driver = headless_chromium()     # no password header: only what the address carries
    try:
        driver.get(f"http://admin:{PASSWORD}@{host}/ui/")
        state = "document.querySelector('#connection').className"
        assert wait_for(driver, f"{state} !== 'dot' && {state}") == "dot live", \
            driver.execute_script("return document.querySelector('#updated').innerText")
        for name in VARIANTS:
            wait_for(driver, f"document.querySelector('tr[data-function=\"{name}\"]')")
        assert driver.execute_script("return document.querySelectorAll('#nodes .card').length") >= 2
    finally:
        driver.quit()


def test_the_dashboard_reads_a_keyed_selector_with_the_selectors_own_key(tmp_path):
    """With API keys on, the selector answers its /decisions only to a key; the page
    polls the gateway's /ui/api/decisions (basic auth), which presents the key itself."""
    stage = keyed_echo_stage(tmp_path, b"key-one\nkey-two\n", "key-two")
    try:
        admin = {"Authorization": "Basic " + base64.b64encode(f"admin:{stage.password}".encode()).decode()}
        assert stage.call("/function/selector?task=echo", b"hi", {"X-Api-Key": "key-two"})[0] == 200
        assert stage.call("/function/selector?task=echo", b"hi")[0] == 401
        assert stage.call("/function/selector/decisions")[0] == 401     # what the page cannot read itself

        assert stage.call("/ui/api/decisions")[0] == 401                 # the gateway's own auth first
        status, headers, raw = stage.call("/ui/api/decisions?limit=5", headers=admin)
        assert status == 200 and headers["Content-Type"].startswith("application/json"), raw
        view = json.loads(raw)
        assert [d["variant"] for d in view["decisions"]] == ["echo"] and view["decisions"][0]["status"] == 200
        assert view["decisions"][0]["task"] == "echo"
        status, _, raw = stage.call(f"/ui/api/decisions?after={view['last_seq']}", headers=admin)
        assert status == 200 and json.loads(raw)["decisions"] == []
        status, _, raw = stage.call("/ui/api/decisions?limit=ten", headers=admin)   # the selector's 400
        assert status == 400 and json.loads(raw)["error"]["parameter"] == "limit"
    finally:
        stage.stop()

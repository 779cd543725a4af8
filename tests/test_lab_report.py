"""The lab report end to end: `socialcredit lab run`, figures.json, and report.html in a browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.lab import FIGURE_KEYS

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lab")
    args = ["lab", "run", "--program", "sesame", "--vs", "rongcheng"]
    args += ["--population", "1500", "--months", "2", "--report", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and "gate:" in result.output
    return out


def test_figures_hold_every_metric(report: Path) -> None:
    figures = json.loads((report / "figures.json").read_text())
    assert set(FIGURE_KEYS) <= set(figures)
    assert [d["program"] for d in figures["distribution"]] == ["sesame", "rongcheng"]
    months = figures["distribution"][0]["months"]
    assert [m["month"] for m in months] == [0, 1, 2]
    assert {"insufficient_share", "quantiles", "grades", "histogram"} <= set(months[0])
    migration = figures["distribution"][0]["migration"]
    assert sum(map(sum, migration["counts"])) == months[0]["subjects"]
    screens = figures["adverse_impact_ratios"]["screens"]
    assert {(s["service"], s["measure"]) for s in screens} >= {
        ("bike_rental_deposit_waiver", "waiver_at_650"),
        ("vip_lane", "lane_for_aaa"),
    }
    assert {r["dimension"] for r in screens[0]["groups"]} == {
        "region",
        "urban_rural",
        "age_band",
        "sex",
    }
    attacks = {(a["program"], a["attack"]) for a in figures["attacks"]}
    for name in ("sybil_ring", "report_ring", "report_flood", "phoenix"):
        assert ("sesame", name) in attacks and ("rongcheng", name) in attacks
    assert all("points_moved" in a and "caught" in a for a in figures["attacks"])
    reach = {(r["program"], r["service"], r["measure"]): r for r in figures["restriction_reach"]}
    lane = reach["rongcheng", "vip_lane", "lane_for_aaa"]
    assert lane["effect"] == "reward" and lane["rule"] == "on list honest_aaa (grade in AAA)"
    assert set(lane["by_group"]) == {"region", "urban_rural", "age_band", "sex", "kind"}
    # list measures are reported in each world, whatever program their service names
    for program in ("sesame", "rongcheng"):
        flights = reach[program, "flight_booking", "no_flights_for_defaulters"]
        assert flights["basis"] == "list" and flights["subjects"] == 1575
        assert set(flights["by_group"]) == set(lane["by_group"])
    programs = {p["id"]: p for p in figures["meta"]["programs"]}
    skipped = {(m["service"], m["measure"]) for m in programs["sesame"]["not_audited"]}
    assert skipped == {("loan", "phoenix_review")}
    assert programs["sesame"]["measures_version"] == programs["rongcheng"]["measures_version"]
    assert figures["contagion"][0]["has_relationship_factor"] is True
    assert "low_scorers" in figures["relations_cut"][0]


def test_the_report_is_self_contained(report: Path) -> None:
    html = (report / "report.html").read_text()
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert "url(" not in html
    addresses = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert addresses <= {"http://www.w3.org/2000/svg"}


def test_the_report_renders_in_the_browser(report: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (scripts/test installs it)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto((report / "report.html").as_uri())
            assert page.title() == "Policy lab: sesame vs rongcheng"
            headings = page.locator("h2").all_inner_texts()
            for expected in (
                "Score distribution",
                "Adverse impact",
                "Contagion",
                "Relations cut",
                "Attacks",
                "Restriction reach",
            ):
                assert any(expected in h for h in headings), headings
            assert page.locator("#gate").is_visible()
            charts = page.locator("svg")
            assert charts.count() >= 10
            box = charts.first.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 150
            assert page.locator("svg polyline").count() > 0
            assert page.locator("table").count() >= 5
            page.screenshot(path=str(SCREENSHOTS / "lab-report.png"), full_page=True)
        finally:
            browser.close()
    assert all(url.startswith("file://") for url in requests), requests

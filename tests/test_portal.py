"""The portal in a real browser: Debian's Chromium driven by Playwright against a real server
(uvicorn on a loopback port) over a store like service_world's.

A subject signs in and sees its dials, factor bars, history and records, disputes a record and
revokes a consent; an adjudicator decides a report and a dispute; an operator sees the
population; the public searches a list. A test whose back end is not on the server yet skips
(asked of the server's own /openapi.json), so it runs as soon as that back end lands.
Screenshots of the main pages go to artifacts/screenshots/ (see the README).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from factories import new_store, record_row, registry_row
from service_world import A, B, World, day, utc_now, world
from socialcredit.api import ApiSettings, create_app
from socialcredit.domain.identifiers import masked
from socialcredit.services.ingest import ingest_rows

sync_api = pytest.importorskip("playwright.sync_api")
Browser = sync_api.Browser
expect = sync_api.expect
expect.set_options(timeout=20_000)  # tips rescore what-ifs, slow on a busy machine

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
A_NAME = "Li Wei"
CASE = "(2026) Jing 0105 Zhi 123"

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's Chromium is not installed (scripts/test installs it)", allow_module_level=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Portal:
    """The running server, the world behind it and what its OpenAPI document offers."""

    url: str
    world: World
    paths: dict[str, Any]
    http: httpx.Client = field(repr=False)

    def has(self, method: str, path: str) -> bool:
        return method.lower() in self.paths.get(path, {})

    def need(self, *endpoints: tuple[str, str]) -> None:
        """Skip while the server lacks one of these endpoints (its back end has not landed)."""
        missing = [f"{m} {p}" for m, p in endpoints if not self.has(m, p)]
        if missing:
            pytest.skip(f"not on the server yet: {', '.join(missing)}")

    def api(self, method: str, path: str, role: str | None = None, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if role:
            headers["Authorization"] = f"Bearer {self.world.keys[role]}"
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json()


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """service_world's store, plus a name for A and a court's listing order against A (so A
    is on the public judgment-defaulters list), served by uvicorn."""
    engine = new_store(tmp_path_factory.mktemp("portal"))
    with world(engine) as w:
        ingest_rows(engine, "registry", [(1, registry_row(subject=A, name=A_NAME))])
        listing = record_row(
            subject=A,
            furnisher="court-a",
            kind="court.judgment_unfulfilled",
            external_id="court-a-j-1",
            occurred_at=day(30),
            evidence=CASE,
        )
        answer = w.post_records("court", [listing])
        assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
        server, thread, url = _serve(create_app(engine, ApiSettings(rate=0)))
        with httpx.Client(base_url=url, timeout=30) as http:
            paths = http.get("/openapi.json").json()["paths"]
            try:
                yield Portal(url=url, world=w, paths=paths, http=http)
            finally:
                server.should_exit = True
                thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Browser, portal: Portal, viewport: dict[str, int] = DESKTOP) -> Any:
    """A fresh tab (its own sessionStorage) that records script errors and any request that
    leaves the server."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.errors = []  # type: ignore[attr-defined]
    page.outside = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((portal.url, "data:"))
            else page.outside.append(request.url)
        ),
    )
    return page


@pytest.fixture
def page(browser: Browser, portal: Portal) -> Iterator[Any]:
    tab = open_page(browser, portal)
    yield tab
    errors, outside = tab.errors, tab.outside
    tab.context.close()
    assert not errors, f"script errors: {errors}"
    assert not outside, f"requests that left the server: {outside}"


def sign_in(page: Any, portal: Portal, role: str, landing: str) -> None:
    page.goto(f"{portal.url}/#/signin")
    page.get_by_label("Key", exact=True).fill(portal.world.keys[role])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(landing)


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def shot_of(located: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    located.screenshot(path=str(SHOTS / f"{name}.png"))


def settled(page: Any, section: str) -> Any:
    """The section once it has finished loading."""
    located = page.locator(f"section#{section}")
    expect(located).not_to_have_attribute("data-state", "loading")
    return located


# ---------------------------------------------------------------------------- signing in


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(el => el.type !== 'hidden')
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby'))
    .map(el => el.outerHTML)"""


def unlabelled(page: Any) -> list[str]:
    found: list[str] = page.evaluate(UNLABELLED)
    return found


def test_sign_in_is_accessible_and_the_key_stays_in_the_tab(page: Any, portal: Portal) -> None:
    response = page.goto(f"{portal.url}/")
    assert response.ok
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    for landmark in ("banner", "navigation", "main", "contentinfo"):
        expect(page.get_by_role(landmark).first).to_be_visible()
    assert unlabelled(page) == []
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "sign-in":
            break
    else:
        pytest.fail("keyboard focus never reached the sign-in button")
    shot(page, "signin")

    page.get_by_label("Key", exact=True).fill("sck_not-a-key")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("not accepted: unknown or revoked key")
    assert page.evaluate("sessionStorage.length") == 0

    page.get_by_label("Key", exact=True).fill(portal.world.keys["subject"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("My file")
    key = page.evaluate("sessionStorage.getItem('socialcredit.key')")
    assert key == portal.world.keys["subject"]
    assert page.evaluate("localStorage.length") == 0
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert page.evaluate("sessionStorage.length") == 0


def test_a_person_claims_its_key_with_an_enrolment_code(
    page: Any, browser: Browser, portal: Portal
) -> None:
    portal.need(("POST", "/v1/enrolments"), ("POST", "/v1/enrolments/{code}"))
    body = {"subject": A, "name": "Li Wei's laptop"}
    code = portal.api("POST", "/v1/enrolments", "admin", json=body)["code"]
    page.goto(f"{portal.url}/#/signin")
    assert unlabelled(page) == []
    page.get_by_label("Enrolment code").fill(code)
    page.get_by_role("button", name="Claim my key").click()
    shown = page.locator("#new-key")
    expect(shown).to_contain_text("sck_")
    assert page.evaluate("sessionStorage.getItem('socialcredit.key')") == shown.inner_text()
    page.get_by_role("link", name="Open my file").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My file")
    again = open_page(browser, portal)  # the code worked once
    again.goto(f"{portal.url}/#/signin")
    again.get_by_label("Enrolment code").fill(code)
    again.get_by_role("button", name="Claim my key").click()
    expect(again.get_by_role("alert")).to_contain_text("not accepted: no such enrolment code")
    assert again.evaluate("sessionStorage.length") == 0
    again.context.close()


def test_the_server_decides_what_a_page_shows(page: Any, portal: Portal) -> None:
    """A subject who opens the operator's page gets the API's refusal, not a hidden link."""
    sign_in(page, portal, "subject", "My file")
    page.goto(f"{portal.url}/#/operator")
    distribution = settled(page, "distribution")
    expect(distribution).to_have_attribute("data-state", "error")
    expect(distribution).to_contain_text("this needs the role admin or adjudicator")


# ---------------------------------------------------------------------------- the subject

SUBJECT_SECTIONS = {
    "scores": ("GET", "/v1/subjects/{id}/scores"),
    "history": ("GET", "/v1/subjects/{id}/history"),
    "tips": ("GET", "/v1/subjects/{id}/tips"),
    "lists": ("GET", "/v1/subjects/{id}/lists"),
    "records": ("GET", "/v1/subjects/{id}/records"),
    "decisions": ("GET", "/v1/subjects/{id}/decisions"),
    "notices": ("GET", "/v1/subjects/{id}/notices"),
    "purges": ("GET", "/v1/subjects/{id}/purges"),
    "consents": ("GET", "/v1/consents"),
    "shares": ("GET", "/v1/shares"),
    "settings": ("GET", "/v1/subjects/{id}/settings"),
    "access-log": ("GET", "/v1/subjects/{id}/access-log"),
    "game": ("POST", "/v1/games/higher-or-lower"),
}


def test_subject_sees_its_file(page: Any, portal: Portal) -> None:
    scores = portal.api("GET", f"/v1/subjects/{A}/scores", "subject")["scores"]
    records = portal.api("GET", f"/v1/subjects/{A}/records", "subject")["items"]
    sign_in(page, portal, "subject", "My file")
    expect(page.get_by_text(f"Your file: A, {A}.")).to_be_visible()

    expect(settled(page, "scores")).to_have_attribute("data-state", "ready")
    for score in scores:
        card = page.locator(f"article.score-card[data-program='{score['program']}']")
        expect(card.locator(".score-value")).to_have_text(str(score["score"]))
        expect(card.get_by_role("img", name="Score dial for")).to_have_count(1)
        description = card.locator("svg.dial desc").text_content()
        assert f"{score['score']} on a scale from" in description
        assert f"grade {score['grade']}" in description
        expect(card).to_contain_text(f"Grade{score['grade']}")
        expect(card).to_contain_text(f"{score['percentile']:.1f}% of scored persons")
        bars = card.locator("svg.bars")
        expect(bars).to_have_count(1)
        assert bars.locator("rect[fill]").count() == len(score["factors"])

    expect(settled(page, "history")).to_have_attribute("data-state", "ready")
    line = page.locator("figure.history[data-program='sesame'] svg.line-chart")
    assert line.locator("circle.point").count() >= 2  # the full run and the rescoring

    expect(settled(page, "records")).to_have_attribute("data-state", "ready")
    rows = page.locator("section#records table.records tbody tr")
    expect(rows).to_have_count(len(records))
    expect(page.locator(f"tr[data-record='{records[0]['id']}']")).to_contain_text(
        records[0]["external_id"]
    )

    log = settled(page, "access-log")
    expect(log).to_have_attribute("data-state", "ready")
    expect(log.locator("tr[data-role='subject']").filter(has_text="scores").first).to_be_visible()

    for section, (method, path) in SUBJECT_SECTIONS.items():
        located = settled(page, section)
        if portal.has(method, path):
            expect(located).not_to_have_attribute("data-state", "unavailable")
            expect(located).not_to_have_attribute("data-state", "error")
        else:
            expect(located).to_have_attribute("data-state", "unavailable")
            expect(located).to_contain_text(f"This server does not offer {method} {path}")
    assert unlabelled(page) == []
    shot(page, "subject")
    shot_of(page.locator("section#scores"), "subject-scores")


def test_subject_sees_tips_and_its_list_entry_with_the_way_off(page: Any, portal: Portal) -> None:
    portal.need(("GET", "/v1/subjects/{id}/tips"), ("GET", "/v1/subjects/{id}/lists"))
    sign_in(page, portal, "subject", "My file")
    tips = settled(page, "tips")
    expect(tips).to_have_attribute("data-state", "ready")
    judgment = tips.locator("ol.tips li").filter(has_text="perform court judgment")
    expect(judgment.first).to_contain_text("points, to")

    lists = settled(page, "lists")
    expect(lists).to_have_attribute("data-state", "ready")
    entry = lists.locator("li[data-list='judgment_defaulters']")
    expect(entry).to_contain_text("The way off: Perform the judgment")
    expect(entry).to_contain_text(f"Cases: {CASE}")
    if portal.has("POST", "/v1/repairs"):
        entry.get_by_role("button", name="Apply for repair").click()
        lists.get_by_label("Your credit commitment").fill("I will pay the judgment debt by June")
        lists.get_by_role("button", name="Apply", exact=True).click()
        expect(lists.get_by_role("status")).to_contain_text("Repair refused")


def fits(page: Any, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what} is {width} px wide on a 360 px screen"


def test_the_pages_fit_a_phone(browser: Browser, portal: Portal) -> None:
    phone = open_page(browser, portal, PHONE)
    try:
        sign_in(phone, portal, "subject", "My file")
        for section in SUBJECT_SECTIONS:
            settled(phone, section)
        fits(phone, "the subject's page")
        shot(phone, "subject-phone")
        phone.get_by_role("button", name="Sign out").click()
        sign_in(phone, portal, "admin", "Operator")
        for section in ("distribution", "list-sizes", "furnisher-rates", "dispute-queue"):
            settled(phone, section)
        fits(phone, "the operator's page")
        phone.goto(f"{portal.url}/#/public")
        settled(phone, "public-lists")
        fits(phone, "the public page")
        assert not phone.errors
        assert not phone.outside
    finally:
        phone.context.close()


def test_subject_disputes_a_record_and_sees_it_disputed(page: Any, portal: Portal) -> None:
    portal.need(("POST", "/v1/disputes"))
    records = portal.api("GET", f"/v1/subjects/{A}/records", "subject")["items"]
    target = next(r for r in records if r["kind"] == "loan.repaid_on_time" and not r["disputed"])
    sign_in(page, portal, "subject", "My file")
    section = settled(page, "records")
    row = section.locator(f"tr[data-record='{target['id']}']")
    expect(row).to_have_attribute("data-disputed", "false")
    row.get_by_role("button", name=f"Dispute record #{target['id']}").click()
    form = section.get_by_role("form", name=f"Dispute record #{target['id']}")
    form.get_by_label("Why is it wrong?").fill("I never had this loan")
    form.get_by_label("Your statement").fill("The bank confused me with a namesake.")
    expect(form).to_contain_text("7 of 100 words")
    form.get_by_role("button", name="Send dispute").click()
    expect(section.get_by_role("status")).to_contain_text(
        f"Record #{target['id']} is now disputed; bank-a must verify it by"
    )
    row = section.locator(f"tr[data-record='{target['id']}']")
    expect(row).to_have_attribute("data-disputed", "true")
    expect(row.locator(".badge.disputed")).to_have_text("disputed")
    expect(row).to_contain_text("Your statement: “The bank confused me with a namesake.”")
    stored = portal.api("GET", f"/v1/subjects/{A}/records", "subject")["items"]
    assert next(r for r in stored if r["id"] == target["id"])["disputed"] is True


def test_subject_revokes_a_consent_and_a_share(page: Any, portal: Portal) -> None:
    party = portal.world.ids["relying_party"]
    granted = portal.api(
        "POST",
        "/v1/consents",
        "subject",
        json={
            "relying_party": party,
            "purpose": "tenancy",
            "scope": ["scores"],
            "expires_at": (utc_now() + timedelta(days=7)).isoformat(),
        },
    )
    read = {"Authorization": f"Bearer {portal.world.keys['relying_party']}"}
    scores = f"/v1/subjects/{A}/scores?purpose=tenancy"
    assert portal.http.get(scores, headers={**read, "X-Consent": granted["token"]}).is_success
    shared = None
    if portal.has("POST", "/v1/shares"):
        shared = portal.api(
            "POST", "/v1/shares", "subject", json={"program": "sesame", "relying_party": party}
        )
        assert portal.http.get(f"/v1/badges/{shared['token']}", headers=read).is_success

    sign_in(page, portal, "subject", "My file")
    consents = settled(page, "consents")
    row = consents.locator(f"tr[data-consent='{granted['id']}']")
    expect(row).to_have_attribute("data-status", "active")
    row.get_by_role("button", name="Revoke").click()
    expect(consents.get_by_role("status")).to_contain_text(f"Consent {granted['id']} revoked")
    expect(consents.locator(f"tr[data-consent='{granted['id']}']")).to_have_attribute(
        "data-status", "revoked"
    )
    refused = portal.http.get(scores, headers={**read, "X-Consent": granted["token"]})
    assert refused.status_code == 403 and "revoked" in refused.json()["detail"]

    if shared is not None:
        shares = settled(page, "shares")
        row = shares.locator(f"tr[data-share='{shared['id']}']")
        expect(row).to_contain_text("Air Example")
        row.get_by_role("button", name="Revoke").click()
        expect(shares.get_by_role("status")).to_contain_text(f"Share {shared['id']} revoked")
        expect(shares.locator(f"tr[data-share='{shared['id']}']")).to_have_attribute(
            "data-status", "revoked"
        )
        assert portal.http.get(f"/v1/badges/{shared['token']}", headers=read).status_code == 404


def test_subject_opts_in_and_plays_higher_or_lower(page: Any, portal: Portal) -> None:
    portal.need(("PUT", "/v1/subjects/{id}/settings"), ("POST", "/v1/games/higher-or-lower"))
    portal.api("PUT", f"/v1/subjects/{B}/settings", "subject_b", json={"game": True})
    sign_in(page, portal, "subject", "My file")
    settings = settled(page, "settings")
    settings.get_by_label("Let my confirmed relations play").check()
    settings.get_by_label("Put me on the public leaderboard").check()
    settings.get_by_role("button", name="Save choices").click()
    expect(settings.get_by_role("status")).to_contain_text("Saved: leaderboard, game is on.")
    assert portal.api("GET", f"/v1/subjects/{A}/settings", "subject")["game"] is True

    game = settled(page, "game")
    game.get_by_label("Against").select_option(B)
    game.get_by_label("Program").select_option("rongcheng")
    game.get_by_label("higher than theirs").check()
    game.get_by_role("button", name="Play").click()
    expect(game.get_by_role("status")).to_contain_text("Their score stays private.")


def test_subject_asks_for_a_review_and_an_adjudicator_overrides(
    browser: Browser, page: Any, portal: Portal
) -> None:
    portal.need(
        ("GET", "/v1/subjects/{id}/decisions/{service}"),
        ("POST", "/v1/decisions/{id}/reviews"),
        ("POST", "/v1/reviews/{id}/decision"),
    )
    consent = portal.api(
        "POST",
        "/v1/consents",
        "subject",
        json={
            "relying_party": portal.world.ids["relying_party"],
            "purpose": "travel_booking",
            "scope": ["decisions"],
            "expires_at": (utc_now() + timedelta(days=7)).isoformat(),
        },
    )
    decision = portal.api(
        "GET",
        f"/v1/subjects/{A}/decisions/flight_booking?purpose=travel_booking",
        "relying_party",
        headers={"X-Consent": consent["token"]},
    )
    assert decision["decision"] == "deny"

    sign_in(page, portal, "subject", "My file")
    decisions = settled(page, "decisions")
    item = decisions.locator(f"li[data-decision='{decision['id']}']")
    expect(item).to_contain_text("flight booking: deny")
    expect(item).to_contain_text("No flights for judgment defaulters")
    item.get_by_role("button", name=f"Ask for a human review of decision {decision['id']}").click()
    decisions.get_by_label("Why should a person look at it again?").fill("I paid the debt")
    decisions.get_by_role("button", name="Ask for review").click()
    expect(decisions.get_by_role("status")).to_contain_text("requested: an adjudicator will decide")
    review = portal.api("GET", "/v1/reviews?status=open", "subject")["items"][-1]

    judge = open_page(browser, portal)
    try:
        sign_in(judge, portal, "adjudicator", "Operator")
        queue = settled(judge, "review-queue")
        row = queue.locator(f"tr[data-id='{review['id']}']")
        expect(row).to_contain_text("flight booking was deny")
        row.get_by_role("button", name=f"Decide review {review['id']}").click()
        form = queue.get_by_role("form", name=f"Decide review {review['id']}")
        form.get_by_label("Outcome").select_option("overridden")
        form.get_by_label("New Decision").select_option("allow")
        form.get_by_label("Reason", exact=True).fill("The court confirms the debt was paid")
        form.get_by_role("button", name="Record decision").click()
        expect(queue.get_by_role("status")).to_contain_text(f"Review {review['id']} decided")
        assert not judge.errors
    finally:
        judge.context.close()
    closed = portal.api("GET", "/v1/reviews", "subject")["items"]
    decided = next(r for r in closed if r["id"] == review["id"])
    assert (decided["outcome"], decided["new_decision"]) == ("overridden", "allow")


# ---------------------------------------------------------------------------- operators


def test_operator_sees_the_population(page: Any, portal: Portal) -> None:
    stats = portal.api("GET", "/v1/stats/scores", "admin")["programs"]
    sign_in(page, portal, "admin", "Operator")
    distribution = settled(page, "distribution")
    expect(distribution).to_have_attribute("data-state", "ready")
    for program in stats:
        article = distribution.locator(f"article[data-program='{program['program']}']")
        expect(article).to_contain_text(f"{program['scored']} subjects scored")
        histogram = article.locator("svg.histogram")
        expect(histogram.locator("rect.bin")).to_have_count(len(program["bins"]))
        grades = article.locator("svg.bars")
        expect(grades.locator("text.bar-label")).to_have_count(len(program["grades"]))
    sizes = settled(page, "list-sizes")
    expect(sizes).to_have_attribute("data-state", "ready")
    expect(sizes.locator("svg.line-chart")).to_have_count(1)
    expect(sizes.locator(".legend")).to_contain_text("Judgment defaulters: 1")
    for section in ("furnisher-rates", "dispute-queue", "report-queue", "review-queue"):
        expect(settled(page, section)).not_to_have_attribute("data-state", "error")
    assert unlabelled(page) == []
    shot(page, "operator")
    shot_of(distribution, "operator-distribution")


def test_adjudicator_decides_a_report_and_a_dispute(page: Any, portal: Portal) -> None:
    portal.need(
        ("POST", "/v1/reports"),
        ("POST", "/v1/reports/{id}/decision"),
        ("POST", "/v1/disputes"),
        ("POST", "/v1/disputes/{id}/decision"),
    )
    report = portal.api(
        "POST",
        "/v1/reports",
        "subject_b",
        json={
            "target": A,
            "kind": "contract.breached",
            "occurred_at": day(10),
            "description": "Did not deliver the goods paid for.",
            "evidence": "invoice 2026-118",
        },
    )
    record = portal.api("GET", f"/v1/subjects/{B}/records", "subject_b")["items"][0]
    opened = portal.api(
        "POST",
        "/v1/disputes",
        "subject_b",
        json={"record": record["id"], "reason": "Repaid late, not on time"},
    )
    sign_in(page, portal, "adjudicator", "Operator")

    reports = settled(page, "report-queue")
    row = reports.locator(f"tr[data-id='{report['id']}']")
    expect(row).to_contain_text(f"against {A}")
    row.get_by_role("button", name=f"Decide report {report['id']}").click()
    form = reports.get_by_role("form", name=f"Decide report {report['id']}")
    form.get_by_label("Outcome").select_option("rejected")
    form.get_by_label("Reason").fill("The invoice does not name the target")
    form.get_by_role("button", name="Record decision").click()
    expect(reports.get_by_role("status")).to_contain_text(f"Report {report['id']} decided")
    expect(reports.locator(f"tr[data-id='{report['id']}']")).to_have_count(0)

    disputes = settled(page, "dispute-queue")
    row = disputes.locator(f"tr[data-id='{opened['id']}']")
    expect(row).to_contain_text(f"record #{record['id']}")
    expect(row).to_contain_text(day(-20)[:10])  # the deadline: 20 days from now
    row.get_by_role("button", name=f"Decide dispute {opened['id']}").click()
    form = disputes.get_by_role("form", name=f"Decide dispute {opened['id']}")
    form.get_by_label("Outcome").select_option("overturned")
    form.get_by_label("Reason").fill("The bank cannot show the payment date")
    form.get_by_role("button", name="Record decision").click()
    expect(disputes.get_by_role("status")).to_contain_text(f"Dispute {opened['id']} decided")
    expect(disputes.locator(f"tr[data-id='{opened['id']}']")).to_have_count(0)

    decided = portal.api("GET", f"/v1/reports/{report['id']}", "adjudicator")
    assert decided["status"] == "rejected"
    assert decided["decision"]["decided_by"] == portal.world.ids["adjudicator"]
    closed = portal.api("GET", f"/v1/disputes/{opened['id']}", "adjudicator")
    assert (closed["status"], closed["outcome"]) == ("closed", "overturned")
    rates = portal.api("GET", "/v1/stats/furnishers", "admin")["items"]
    bank = next(f for f in rates if f["furnisher"] == "bank-a")
    assert bank["overturned"] >= 1


# ---------------------------------------------------------------------------- the public


def test_public_searches_a_list_and_sees_the_leaderboard(page: Any, portal: Portal) -> None:
    portal.need(("GET", "/v1/public/lists"), ("GET", "/v1/public/lists/{name}"))
    if portal.has("PUT", "/v1/subjects/{id}/settings"):
        portal.api("PUT", f"/v1/subjects/{A}/settings", "subject", json={"leaderboard": True})
    page.goto(f"{portal.url}/#/public")
    lists = settled(page, "public-lists")
    expect(lists).to_have_attribute("data-state", "ready")
    lists.get_by_label("List", exact=True).select_option("judgment_defaulters")
    expect(lists).to_contain_text("The way off: Perform the judgment")
    lists.get_by_label("Name or id").fill("li w")
    lists.get_by_role("button", name="Search").click()
    results = lists.locator("table.public-entries tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text(A_NAME)
    expect(results.first).to_contain_text(CASE)
    expect(results.first).to_contain_text(masked(A))  # the birth date hidden, as the court does
    expect(results.first).not_to_contain_text(A)
    settled(page, "leaderboard")
    shot(page, "public")

    lists.get_by_label("Name or id").fill(B)
    lists.get_by_role("button", name="Search").click()
    expect(lists.get_by_role("status")).to_contain_text("No entry on Judgment defaulters matches")

    if portal.has("GET", "/v1/public/leaderboard"):
        board = settled(page, "leaderboard")
        board.get_by_label("Program").select_option("sesame")
        expect(board.locator("table.leaderboard tbody tr").first).to_contain_text(A_NAME)
    assert unlabelled(page) == []
    assert page.evaluate("sessionStorage.length") == 0

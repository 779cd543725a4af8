"""What the portal needs from the server besides the API it calls: the programs in use (public),
the operators' figures (score distribution, grade counts, list sizes over time, furnishers'
dispute and overturn rates), and the portal's own files served beside the API without
changing how the API answers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from factories import enrol_subject, new_store, record_row
from service_world import ROLES, A, B, day, utc_now, world
from socialcredit.domain.principals import NotAllowed
from socialcredit.policy.loader import shipped_program_names
from socialcredit.services.principals import create_principal
from socialcredit.services.stats import furnisher_rates


def court_listing(subject: str, n: int, days_ago: int) -> dict[str, Any]:
    return record_row(
        subject=subject,
        furnisher="court-a",
        kind="court.judgment_unfulfilled",
        external_id=f"court-a-j-{n}",
        occurred_at=day(days_ago),
        evidence=f"case {n}",
    )


def test_operator_figures_on_each_store(store_backend: str, tmp_path: Path) -> None:
    with world(new_store(tmp_path)) as w:
        programs = w.client.get("/v1/public/programs").json()["items"]  # no key needed
        by_id = {p["program"]: p for p in programs}
        assert set(by_id) == set(shipped_program_names())
        sesame = by_id["sesame"]
        assert (sesame["min_score"], sesame["max_score"], sesame["base"]) == (350, 950, 550)
        assert [b["grade"] for b in sesame["bands"]] == [
            "poor",
            "fair",
            "good",
            "very good",
            "excellent",
        ]
        assert sesame["bands"][0] == {"grade": "poor", "min": 350, "max": 549}
        assert sesame["bands"][-1] == {"grade": "excellent", "min": 700, "max": 950}
        assert [f["id"] for f in sesame["factors"]][:2] == ["history", "behaviour"]

        stats = w.client.get("/v1/stats/scores", headers=w.auth("admin"))
        assert stats.status_code == 200, stats.text
        runs = {d["program"]: d for d in stats.json()["programs"]}
        scores = w.client.get(f"/v1/subjects/{A}/scores", headers=w.auth("subject")).json()
        a_sesame = next(s for s in scores["scores"] if s["program"] == "sesame")
        d = runs["sesame"]
        assert d["subjects"] == 2 and d["scored"] == 2  # A and C: sesame scores persons only
        assert sum(b["count"] for b in d["bins"]) == d["scored"]
        assert d["bins"][0]["from"] == 350 and d["bins"][-1]["to"] == 950
        widths = {b["to"] - b["from"] + 1 for b in d["bins"][:-1]}
        assert widths == {20}  # 350 to 950 in at most 30 bins: a round width of 20
        home = next(b for b in d["bins"] if b["from"] <= a_sesame["score"] <= b["to"])
        assert home["count"] >= 1
        assert [g["grade"] for g in d["grades"]] == [
            "excellent",
            "very good",
            "good",
            "fair",
            "poor",
        ]
        assert sum(g["count"] for g in d["grades"]) == d["scored"]
        assert runs["rongcheng"]["subjects"] == 3
        coarse = w.client.get("/v1/stats/scores?bins=6", headers=w.auth("adjudicator")).json()
        assert len(next(p for p in coarse["programs"] if p["program"] == "sesame")["bins"]) == 6

        # A court lists A 40 days ago: the list has one entry now and none a year ago.
        w.post_records("court", [court_listing(A, 1, 40)])
        sizes = w.client.get("/v1/stats/lists?months=3", headers=w.auth("adjudicator")).json()
        lists = {entry["list"]: entry for entry in sizes["lists"]}
        defaulters = [p["size"] for p in lists["judgment_defaulters"]["points"]]
        assert defaulters == [0, 0, 1, 1]  # 3, 2 and 1 months ago, and now
        assert all(p["size"] == 0 for p in lists["redlist_volunteers"]["points"])

        # Disputes of bank-a's records: one overturned by an adjudicator, one left open.
        records = w.client.get(f"/v1/subjects/{A}/records", headers=w.auth("subject")).json()
        loans = [r for r in records["items"] if r["furnisher"] == "bank-a"]
        first = w.client.post(
            "/v1/disputes",
            headers=w.auth("subject"),
            json={"record": loans[0]["id"], "reason": "not mine"},
        ).json()
        decided = w.client.post(
            f"/v1/disputes/{first['id']}/decision",
            headers=w.auth("adjudicator"),
            json={"outcome": "overturned", "reason": "the bank cannot show it"},
        )
        assert decided.status_code == 200, decided.text
        second = w.client.post(
            "/v1/disputes",
            headers=w.auth("subject"),
            json={"record": loans[1]["id"], "reason": "paid on time"},
        )
        assert second.status_code == 201, second.text
        rates = w.client.get("/v1/stats/furnishers", headers=w.auth("admin")).json()["items"]
        assert rates == [
            {
                "furnisher": "bank-a",
                "name": "Bank A",
                "records": 9,
                "disputes": 2,
                "open": 1,
                "overdue": 0,
                "closed": 1,
                "overturned": 1,
                "dispute_rate": round(2 / 9, 4),
                "overturn_rate": 1.0,
            }
        ]
        admin = create_principal(w.engine, "admin", "Later").principal
        later = furnisher_rates(w.engine, admin, now=utc_now() + timedelta(days=365))
        assert later["items"][0]["overdue"] == 1


@pytest.fixture
def plain(tmp_path: Path) -> Any:
    with world(new_store(tmp_path), scored=False) as w:
        yield w


@pytest.mark.parametrize("path", ["/v1/stats/scores", "/v1/stats/lists", "/v1/stats/furnishers"])
def test_operator_figures_are_for_admins_and_adjudicators_only(plain: Any, path: str) -> None:
    assert plain.client.get(path).status_code == 401
    for role in ROLES:
        answer = plain.client.get(path, headers=plain.auth(role))
        if role in ("admin", "adjudicator"):
            assert answer.status_code == 200, answer.text
        else:
            assert answer.status_code == 403
            assert answer.json()["type"] == "/problems/forbidden"
    bad = plain.client.get(path + "?bins=0&months=0", headers=plain.auth("admin"))
    assert bad.status_code == (200 if path.endswith("furnishers") else 422)


def test_service_refuses_figures_to_others(plain: Any) -> None:
    subject = enrol_subject(plain.engine, B, "Other").principal
    with pytest.raises(NotAllowed):
        furnisher_rates(plain.engine, subject)


def test_figures_before_any_run(plain: Any) -> None:
    assert plain.client.get("/v1/public/programs").json() == {"items": []}
    stats = plain.client.get("/v1/stats/scores", headers=plain.auth("admin")).json()
    assert stats == {"programs": []}


def test_the_portal_is_served_beside_the_api(plain: Any) -> None:
    page = plain.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/web/js/main.js">' in page.text
    for asset in ("/web/js/main.js", "/web/portal.css", "/web/index.html"):
        answer = plain.client.get(asset)
        assert answer.status_code == 200, asset
        assert "content-security-policy" in answer.headers
    assert plain.client.get("/web/js/main.js").headers["content-type"].startswith("text/javascript")
    # Nothing but the portal's own files, and the API answers as before.
    assert plain.client.get("/web/../__init__.py").status_code == 404
    assert plain.client.get("/web/%2e%2e/__init__.py").status_code == 404
    missing = plain.client.get("/v1/nothing", headers=plain.auth("admin"))
    assert missing.status_code == 404 and missing.json()["type"] == "about:blank"
    assert plain.client.post("/v1/nothing").status_code == 404
    assert plain.client.get("/v1/consents/c_1", headers=plain.auth("subject")).status_code == 405
    assert plain.client.get("/healthz").json() == {"status": "ok"}
    paths = plain.client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/web") for p in paths)
    assert plain.client.get("/docs").status_code == 404  # its page would load from a CDN
    metrics = plain.client.get("/metrics").text
    assert 'route="/web/{path}",status="200"' in metrics


def test_no_file_of_the_portal_loads_anything_from_outside() -> None:
    """No CDN, no outside font or script: every URL in the portal's files is this server's."""
    static = Path(__file__).resolve().parent.parent / "src" / "socialcredit" / "web" / "static"
    files = [p for p in static.rglob("*") if p.suffix in {".html", ".css", ".js"}]
    assert len(files) >= 8
    for path in files:
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        for outside in ("http://", "https://", "//cdn", "@import", "url("):
            assert outside not in text, f"{path.name} refers to {outside}"

"""Fault: the public lists (and the portal's public search, which shows what they answer)
showed whole 18-digit resident IDs. A person's ID is now shown as the Supreme People's Court's
list shows it, birth date hidden (110105********002X), unless the list's policy says
`full_ids = true`; an organisation's code, public anyway, is shown whole."""

from __future__ import annotations

import re
from importlib import resources

from factories import record_row
from service_world import A, B, World, day
from socialcredit.domain.identifiers import masked
from socialcredit.domain.records import Furnisher
from socialcredit.policy.measures import load_measures_text
from socialcredit.services.furnishers import register_furnisher
from socialcredit.services.ingest import ingest_rows
from socialcredit.services.lists import search_public

WHOLE_RESIDENT_ID = re.compile(r"\b\d{17}[\dX]\b")


def _listed(w: World) -> None:
    """A on the court's defaulters list, B (an organisation) on the tax arrears list."""
    if w.extra.get("listed"):
        return
    register_furnisher(w.engine, Furnisher("tax-a", "tax_bureau", "Tax Bureau A"))
    rows = [
        record_row(subject=A, furnisher="court-a", kind="court.judgment_unfulfilled",
                   external_id="L-public", evidence="case:(2026)pub", occurred_at=day(20)),
        record_row(subject=B, furnisher="tax-a", kind="tax.arrears", value=250_000,
                   external_id="T-public", occurred_at=day(20)),
    ]  # fmt: skip
    assert ingest_rows(w.engine, "records", enumerate(rows, 1)).summary.accepted == 2
    w.extra["listed"] = True


def test_a_resident_id_is_masked_as_the_court_masks_it() -> None:
    assert masked("11010519491231002X") == "110105********002X"
    assert masked(A) == A[:6] + "********" + A[14:]
    assert masked(B) == B


def test_public_lists_never_show_a_whole_resident_id(served: World) -> None:
    _listed(served)
    for name, q in (("judgment_defaulters", None), ("judgment_defaulters", A)):
        params = {} if q is None else {"q": q}
        answer = served.client.get(f"/v1/public/lists/{name}", params=params)
        assert answer.status_code == 200, answer.text
        subjects = [e["subject"] for e in answer.json()["items"]]
        assert masked(A) in subjects and A not in subjects
        assert not WHOLE_RESIDENT_ID.search(answer.text), answer.text
    organisations = served.client.get("/v1/public/lists/serious_tax_arrears").json()["items"]
    assert B in [e["subject"] for e in organisations]


def _policy(name: str) -> str:
    return (resources.files("socialcredit.policy") / "data" / name).read_text(encoding="utf-8")


def test_a_lists_policy_may_show_whole_ids(served: World) -> None:
    _listed(served)
    text = _policy("lists.toml").replace(
        "[lists.judgment_defaulters]\n", "[lists.judgment_defaulters]\nfull_ids = true\n", 1
    )
    catalogue = load_measures_text(text, _policy("measures.toml"))
    assert catalogue.lists["judgment_defaulters"].full_ids
    shown = search_public(served.engine, "judgment_defaulters", A, catalogue=catalogue)
    assert [e["subject"] for e in shown] == [A]

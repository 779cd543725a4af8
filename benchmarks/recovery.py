"""Crash recovery of the HTTP service: a records upload killed right after its commit, before
its rescoring and its answer, and the restarted server's worker draining what it left.

For each store backend: synthesise and score a city, start `socialcredit serve` with
SOCIALCREDIT_FAILPOINT=ingest.after_commit, POST --records new records in one request (the
server dies at the failpoint, as a `kill -9` would), restart it without the failpoint, and
measure the time from the restart until the outbox holds no pending event. Then count the
stored scores that differ from a full rescoring (the goal: 0).

Run by hand:  python benchmarks/recovery.py [--records 100000] [--persons 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import httpx
import sqlalchemy as sa
from service import TESTS, records_body, run_backends, scored_city, server

from socialcredit.domain.records import Furnisher
from socialcredit.services.failpoints import VARIABLE
from socialcredit.services.furnishers import register_furnisher
from socialcredit.services.principals import create_principal
from socialcredit.services.scoring import score_all
from socialcredit.services.worker import backlog


def latest(engine: sa.Engine) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every subject's newest score per program (the tests' own reading of the store)."""
    sys.path.insert(0, str(TESTS))
    from test_outbox import latest as read  # one definition of "the stored scores"

    return read(engine)


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    say = (lambda _m: None) if args.json else (lambda m: print(f"[{name}] {m}", flush=True))
    say(f"preparing a scored city of {args.persons:,} persons")
    engine, city, today = scored_city(url, args.persons)
    register_furnisher(engine, Furnisher("bench-bank", "lender", "Benchmark Bank"))
    key = create_principal(engine, "furnisher", "bench-bank").key
    subjects = city.registry.column("subject").to_pylist()
    body = records_body(subjects, 0, args.records, today)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}

    say(f"posting {args.records:,} records to a server that dies after the commit")
    with server(url, "warning", {VARIABLE: "ingest.after_commit"}) as base:
        try:
            answer = httpx.post(f"{base}/v1/records", content=body, headers=headers, timeout=600)
        except httpx.TransportError:
            pass
        else:
            raise RuntimeError(f"the server answered {answer.status_code} instead of dying")
    pending = backlog(engine).pending
    say(f"{pending:,} events pending; restarting")

    start = time.perf_counter()
    with server(url, "warning"):
        up = time.perf_counter() - start
        while backlog(engine).pending:
            time.sleep(0.1)
        drained = time.perf_counter() - start
    say(f"up in {up:.1f} s, outbox empty {drained:.1f} s after the restart")

    stored = latest(engine)
    score_all(engine)
    full = latest(engine)
    differing = sum(1 for key_ in full if stored.get(key_) != full[key_])
    say(f"{differing} of {len(full):,} stored scores differ from a full rescoring")
    engine.dispose()
    return {
        "records": args.records,
        "events_pending_after_crash": pending,
        "seconds_to_start": round(up, 2),
        "seconds_to_drain": round(drained, 2),
        "scores": len(full),
        "differing_scores": differing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--postgres", help="server URL (default: a throwaway cluster)")
    parser.add_argument("--persons", type=int, default=20_000, help="city size")
    parser.add_argument("--records", type=int, default=100_000, help="records in the upload")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 unless every score equals a full rescoring"
    )
    args = parser.parse_args()
    results = run_backends(parser, args, run_backend)
    if args.json:
        print(json.dumps(results))
    failed = [b for b in ("sqlite", "postgresql") if results.get(b, {}).get("differing_scores")]
    if args.check and failed:
        print(f"stale scores after recovery on {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Benchmark decisions on loopback: decisions a second and their latency, against a constant
endpoint on the same server (the framework's own ceiling).

For each store backend (SQLite, and PostgreSQL on a throwaway cluster unless --postgres names a
server): synthesise a city, ingest and score it, create a relying party and consents (scope
`decisions`, purpose travel_booking) from --readers subjects, start `socialcredit serve` on a
free loopback port, then

1. GET /v1/subjects/{id}/decisions/flight_booking at a steady --rate for --duration seconds,
   open loop (each latency counts from the moment its request was due);
2. the same load against GET /healthz;
3. POST /v1/decisions with --batch questions a request, --connections requests in flight, for
   --duration seconds: decisions a second when an airline checks a passenger list at once.

Every decision is logged (decision log and access log) as in production. Target: at least
2,000 decisions/s with p99 at most 20 ms. Run by hand:
    python benchmarks/decisions.py [--duration 30] [--backends sqlite] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from service import (  # the service benchmark's harness
    bench_load,
    load_arguments,
    run_backends,
    scored_city,
    server,
)

from socialcredit.services.consents import grant_consent
from socialcredit.services.enrolments import issue_enrolment, operator, redeem_enrolment
from socialcredit.services.principals import create_principal


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def prepare(url: str, persons: int, readers: int) -> dict[str, Any]:
    """A scored city, a relying party, and consents for decisions from `readers` persons."""
    engine, city, _ = scored_city(url, persons)
    party = create_principal(engine, "relying_party", "Benchmark Air")
    subjects = city.registry.column("subject").to_pylist()[:readers]
    asks = []
    for subject in subjects:
        issued = issue_enrolment(engine, operator(), subject, "passenger")
        own = redeem_enrolment(engine, issued.code)
        consent = grant_consent(
            engine,
            own.principal,
            relying_party=party.principal.id,
            purpose="travel_booking",
            scopes=["decisions"],
            expires_at=utc_now() + timedelta(days=1),
        )
        asks.append((subject, consent.token))
    engine.dispose()
    return {"party_key": party.key, "asks": asks}


def bench_batches(
    base: str, setup: dict[str, Any], batch: int, seconds: float, connections: int
) -> dict[str, Any]:
    """POST /v1/decisions with `batch` questions per request from `connections` threads."""
    asks = setup["asks"]
    headers = {"Authorization": f"Bearer {setup['party_key']}"}
    latencies: list[float] = []
    decided = 0
    errors = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(offset: int) -> None:
        nonlocal decided, errors
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            n = offset
            while time.perf_counter() < stop:
                items = [
                    {"subject": s, "service": "flight_booking", "consent": t}
                    for s, t in (asks[(n + i) % len(asks)] for i in range(batch))
                ]
                n += batch
                started = time.perf_counter()
                answer = http.post(
                    "/v1/decisions", json={"purpose": "travel_booking", "items": items}
                )
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if answer.status_code == 200:
                        decided += len(answer.json()["items"])
                    else:
                        errors += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i * 997,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "batch": batch,
        "requests": len(latencies),
        "errors": errors,
        "decisions": decided,
        "decisions_per_second": round(decided / elapsed, 1),
        "request_p50_ms": pct(0.50),
        "request_p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    say = (lambda _m: None) if args.json else (lambda m: print(f"[{name}] {m}", flush=True))
    say(f"preparing a city of {args.persons:,} persons")
    setup = prepare(url, args.persons, args.readers)
    with server(url, args.log_level) as base:
        party = setup["party_key"]
        paths = [
            (
                f"/v1/subjects/{subject}/decisions/flight_booking?purpose=travel_booking",
                {"Authorization": f"Bearer {party}", "X-Consent": token},
            )
            for subject, token in setup["asks"]
        ]
        say(f"single decisions: {args.rate:g}/s for {args.duration:g} s")
        single = bench_load(base, paths, args.rate, args.duration, args.connections)
        say(f"constant endpoint: {args.rate:g}/s for {args.duration:g} s")
        constant = bench_load(base, [("/healthz", {})], args.rate, args.duration, args.connections)
        say(f"batches of {args.batch}: {args.duration:g} s, {args.batch_connections} in flight")
        batches = bench_batches(base, setup, args.batch, args.duration, args.batch_connections)
    return {"single": single, "constant": constant, "batches": batches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    load_arguments(parser, rate=2000.0, duration=30.0)  # --rate: single decisions a second
    parser.add_argument("--batch", type=int, default=100, help="questions per batch request")
    parser.add_argument("--batch-connections", type=int, default=4, help="batches in flight")
    parser.add_argument("--readers", type=int, default=500, help="subjects asked about")
    parser.add_argument("--log-level", default="warning", help="the server's log level")
    args = parser.parse_args()

    results = run_backends(parser, args, run_backend)

    if args.json:
        print(json.dumps(results))
        return
    for backend in ("sqlite", "postgresql"):
        if backend not in results:
            continue
        r = results[backend]
        print(f"\n{backend}")
        for label, x in (("single decisions", r["single"]), ("constant", r["constant"])):
            print(
                f"  {label}: {x['requests']:,} requests at {x['achieved_rate']}/s "
                f"(asked {x['target_rate']:g}/s), p50 {x['p50_ms']} ms, p99 {x['p99_ms']} ms, "
                f"max {x['max_ms']} ms, errors {x['errors']}"
            )
        b = r["batches"]
        print(
            f"  batches of {b['batch']}: {b['decisions']:,} decisions at "
            f"{b['decisions_per_second']:,}/s, request p50 {b['request_p50_ms']} ms, "
            f"p99 {b['request_p99_ms']} ms, errors {b['errors']}"
        )
        ratio = r["single"]["p99_ms"] / r["constant"]["p99_ms"]
        print(f"  single / constant p99: x{ratio:.2f} (target: 2,000/s with p99 <= 20 ms)")


if __name__ == "__main__":
    main()

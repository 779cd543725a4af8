"""Benchmark the HTTP service on loopback: bulk ingest throughput, and score reads at a steady
request rate against a constant endpoint on the same server (the framework's own ceiling).

For each store backend (SQLite, and PostgreSQL on a throwaway cluster unless --postgres names a
server): synthesise a city, ingest and score it, create principals and consents, start
`socialcredit serve` as a subprocess on a free loopback port, then

1. POST --records new records as NDJSON in requests of --batch (each request rescoring the
   subjects it touched before answering): records/s end to end, and without the rescoring;
2. GET /v1/subjects/{id}/scores as a relying party (consent, purpose, access-log write) at a
   steady --rate for --duration seconds, open loop: each request's latency counts from the
   moment it was due, so a slow server cannot hide its queue (no coordinated omission);
3. the same load against GET /healthz, which returns a constant.

The server is stopped at the end. Requests are bounded: rate x duration, at most --connections
in flight. Run by hand:  python benchmarks/service.py [--duration 60] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from socialcredit.domain.records import Furnisher
from socialcredit.services.consents import grant_consent
from socialcredit.services.enrolments import issue_enrolment, operator, redeem_enrolment
from socialcredit.services.furnishers import register_furnisher
from socialcredit.services.ingest import ingest_tables
from socialcredit.services.principals import create_principal
from socialcredit.services.scoring import score_all
from socialcredit.store.database import connect, migrate
from socialcredit.synth.city import City, generate_city

TESTS = Path(__file__).resolve().parent.parent / "tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ------------------------------------------------------------------------------ setup


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """A fresh database on the given server, or on a throwaway cluster."""
    if url:
        server = url.replace("postgresql://", "postgresql+psycopg://", 1)
        yield _database(server)
        return
    sys.path.insert(0, str(TESTS))
    from postgres import cluster  # the tests' throwaway cluster

    with cluster() as started:
        yield _database(started)


def _database(server: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def scored_city(url: str, persons: int) -> tuple[sa.Engine, City, date]:
    """A fresh store at `url` holding a synthetic city ingested and scored as of today."""
    engine = connect(url)
    migrate(engine)
    today = datetime.now(UTC).date()
    city = generate_city(persons, seed=5, as_of=today)
    ingest_tables(
        engine,
        furnishers=city.furnishers,
        registry=city.registry,
        relations=city.relations,
        records=list(city.records.values()),
    )
    score_all(engine, today)
    return engine, city, today


def prepare(url: str, persons: int, readers: int) -> dict[str, Any]:
    """A scored city, a furnisher key, and relying-party consents from `readers` subjects."""
    engine, city, today = scored_city(url, persons)
    register_furnisher(engine, Furnisher("bench-bank", "lender", "Benchmark Bank"))
    furnisher = create_principal(engine, "furnisher", "bench-bank")
    party = create_principal(engine, "relying_party", "Benchmark Air")
    subjects = [s for s in city.registry.column("subject").to_pylist()][:readers]
    reads = []
    for subject in subjects:
        own = redeem_enrolment(engine, issue_enrolment(engine, operator(), subject, "reader").code)
        consent = grant_consent(
            engine,
            own.principal,
            relying_party=party.principal.id,
            purpose="travel_booking",
            scopes=["scores"],
            expires_at=utc_now() + timedelta(days=1),
        )
        reads.append((subject, consent.token))
    engine.dispose()
    return {
        "furnisher_key": furnisher.key,
        "party_key": party.key,
        "reads": reads,
        "subjects": city.registry.column("subject").to_pylist(),
        "today": today,
    }


@contextmanager
def server(url: str, log_level: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`socialcredit serve` on a free loopback port (with `env` added to its environment),
    stopped on exit."""
    port = free_port()
    command = [
        sys.executable, "-m", "socialcredit", "serve", "--db", url, "--port", str(port),
        "--rate-limit", "0", "--log-level", log_level,
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------ ingest


def records_body(subjects: list[str], start: int, count: int, today: date) -> bytes:
    rng = random.Random(start)
    kinds = ("loan.repaid_on_time", "loan.arrears_cycle")
    lines = []
    for n in range(start, start + count):
        occurred = today - timedelta(days=1 + rng.randrange(300))
        lines.append(
            json.dumps(
                {
                    "subject": subjects[rng.randrange(len(subjects))],
                    "kind": kinds[n % 2],
                    "occurred_at": occurred.isoformat(),
                    "external_id": f"bench-{n}",
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def rescoring_seconds(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    match = re.search(r"^socialcredit_rescoring_duration_seconds_sum (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def bench_ingest(base: str, setup: dict[str, Any], total: int, batch: int) -> dict[str, Any]:
    bodies = [
        records_body(setup["subjects"], start, min(batch, total - start), setup["today"])
        for start in range(0, total, batch)
    ]
    headers = {
        "Authorization": f"Bearer {setup['furnisher_key']}",
        "Content-Type": "application/x-ndjson",
    }
    rescoring_before = rescoring_seconds(base)
    accepted = 0
    start = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        for body in bodies:
            response = client.post(f"{base}/v1/records", content=body, headers=headers)
            response.raise_for_status()
            accepted += response.json()["accepted"]
    elapsed = time.perf_counter() - start
    rescoring = rescoring_seconds(base) - rescoring_before
    return {
        "records": total,
        "requests": len(bodies),
        "accepted": accepted,
        "seconds": round(elapsed, 3),
        "rescoring_seconds": round(rescoring, 3),
        "records_per_second": round(total / elapsed),
        "records_per_second_without_rescoring": round(total / max(elapsed - rescoring, 1e-9)),
    }


# ------------------------------------------------------------------------------ load


async def _load(
    host: str, port: int, requests: list[bytes], rate: float, connections: int
) -> tuple[list[float], int, float]:
    """Send `requests` at `rate` a second over keep-alive connections; each latency counts
    from the moment its request was due. Returns latencies (s), errors and elapsed time."""
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (job := await queue.get()) is not None:
                due, request = job
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - due)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter()
    for n, request in enumerate(requests):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, request))
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return latencies, errors, time.perf_counter() - start


def bench_load(
    base: str,
    paths: list[tuple[str, dict[str, str]]],
    rate: float,
    seconds: float,
    connections: int,
) -> dict[str, Any]:
    host, port = base.removeprefix("http://").split(":")
    count = max(1, int(rate * seconds))
    requests = []
    for n in range(count):
        path, headers = paths[n % len(paths)]
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        requests.append(("\r\n".join(lines) + "\r\n\r\n").encode())
    with suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # This process built the city (a large heap): keep its garbage collector from pausing the
    # load generator mid-run. The run is bounded, so what it allocates meanwhile is small.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        latencies, errors, elapsed = asyncio.run(
            _load(host, int(port), requests, rate, connections)
        )
    finally:
        gc.enable()
        gc.unfreeze()
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "requests": count,
        "errors": errors,
        "target_rate": rate,
        "achieved_rate": round(count / elapsed, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


# ------------------------------------------------------------------------------ main


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    say = (lambda _m: None) if args.json else (lambda m: print(f"[{name}] {m}", flush=True))
    say(f"preparing a city of {args.persons:,} persons")
    setup = prepare(url, args.persons, args.readers)
    with server(url, args.log_level) as base:
        say(f"ingesting {args.records:,} records in requests of {args.batch:,}")
        ingest = bench_ingest(base, setup, args.records, args.batch)
        party = setup["party_key"]
        reads = [
            (
                f"/v1/subjects/{subject}/scores?purpose=travel_booking",
                {"Authorization": f"Bearer {party}", "X-Consent": token},
            )
            for subject, token in setup["reads"]
        ]
        say(f"score reads: {args.rate:g}/s for {args.duration:g} s")
        scores = bench_load(base, reads, args.rate, args.duration, args.connections)
        say(f"constant endpoint: {args.rate:g}/s for {args.duration:g} s")
        constant = bench_load(base, [("/healthz", {})], args.rate, args.duration, args.connections)
    return {
        "ingest": ingest,
        "score_reads": scores,
        "constant": constant,
        "p50_ratio": round(scores["p50_ms"] / constant["p50_ms"], 2),
        "p99_ratio": round(scores["p99_ms"] / constant["p99_ms"], 2),
    }


def run_backends(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    run: Callable[[str, str, argparse.Namespace], dict[str, Any]],
) -> dict[str, Any]:
    """`run` on each backend of --backends (SQLite in a temporary folder, PostgreSQL on
    --postgres or a throwaway cluster), with the settings and the machine's cores."""
    results: dict[str, Any] = {
        "settings": {
            k: v for k, v in vars(args).items() if k not in ("json", "postgres", "backends")
        },
        "cpus": os.cpu_count(),
    }
    folder = Path(tempfile.mkdtemp(prefix="socialcredit-bench-"))
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                results["sqlite"] = run("sqlite", f"sqlite:///{folder}/bench.db", args)
            elif backend == "postgresql":
                with postgres(args.postgres) as url:
                    results["postgresql"] = run("postgresql", url, args)
            else:
                parser.error(f"unknown backend {backend!r}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def load_arguments(parser: argparse.ArgumentParser, rate: float, duration: float) -> None:
    """The options every service benchmark takes: backends, city size, load, output."""
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--postgres", help="server URL (default: a throwaway cluster)")
    parser.add_argument("--persons", type=int, default=20_000, help="city size")
    parser.add_argument("--rate", type=float, default=rate, help="requests a second")
    parser.add_argument("--duration", type=float, default=duration, help="seconds of each load")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    load_arguments(parser, rate=1000.0, duration=60.0)
    parser.add_argument("--records", type=int, default=200_000, help="records to ingest")
    parser.add_argument("--batch", type=int, default=100_000, help="records per request")
    parser.add_argument("--readers", type=int, default=200, help="subjects read, round robin")
    parser.add_argument("--log-level", default="info", help="the server's log level")
    args = parser.parse_args()
    if not 1 <= args.batch <= 100_000:
        parser.error("--batch must be from 1 to 100,000")

    results = run_backends(parser, args, run_backend)

    if args.json:
        print(json.dumps(results))
        return
    targets = {"sqlite": 20_000, "postgresql": 50_000}
    for backend in ("sqlite", "postgresql"):
        if backend not in results:
            continue
        r = results[backend]
        i, s, c = r["ingest"], r["score_reads"], r["constant"]
        print(f"\n{backend}")
        print(
            f"  ingest: {i['records']:,} records in {i['seconds']} s = {i['records_per_second']:,}"
            f" records/s (target {targets[backend]:,}); without the {i['rescoring_seconds']} s of"
            f" rescoring: {i['records_per_second_without_rescoring']:,} records/s"
        )
        for label, x in (("score reads", s), ("constant", c)):
            print(
                f"  {label}: {x['requests']:,} requests at {x['achieved_rate']}/s, "
                f"p50 {x['p50_ms']} ms, p90 {x['p90_ms']} ms, p99 {x['p99_ms']} ms, "
                f"max {x['max_ms']} ms, errors {x['errors']}"
            )
        print(
            f"  scores / constant: p50 x{r['p50_ratio']}, p99 x{r['p99_ratio']}"
            " (target: p99 <= 20 ms)"
        )


if __name__ == "__main__":
    main()

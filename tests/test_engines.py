"""One scoring definition on every engine: the store's database (SQLite, PostgreSQL), DuckDB
and Spark give identical scores, grades, percentiles, contributions and reasons."""

from __future__ import annotations

import itertools
import json
import os
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from factories import furnisher_rows, new_store, record_row, resident_id
from ledgers import person
from socialcredit.cli import app
from socialcredit.domain.catalogue import RETRACTION_KIND
from socialcredit.domain.records import in_force
from socialcredit.engines import backends
from socialcredit.engines.definition import effective_records, superseded_records
from socialcredit.engines.run import (
    DETAILS,
    ProgramResult,
    connect,
    duckdb_memory_limit,
    run_program,
)
from socialcredit.lab.population import out_of_force, population_from_tables
from socialcredit.policy.loader import shipped_program_names
from socialcredit.services.export import export_ledger
from socialcredit.services.ingest import ingest_tables
from socialcredit.services.scoring import active_programs, score_lake, write_scoring
from socialcredit.store import database
from socialcredit.store.ledger import read_ledger
from socialcredit.synth.city import generate_city

AS_OF = date(2026, 6, 1)
OUTPUTS = {
    "scores": ["subject"],
    "contributions": ["subject", "rule"],
    "contribution_records": ["subject", "rule", "record_id"],
    "reasons": ["subject", "rank"],
}


def canonical(result: ProgramResult) -> dict[str, list[dict]]:
    """Every output, sorted, so engines that order rows differently compare equal."""
    return {
        name: getattr(result, name).sort_by([(k, "ascending") for k in keys]).to_pylist()
        for name, keys in OUTPUTS.items()
    }


def run_all(ledger: backends.Ledger) -> dict[str, dict[str, list[dict]]]:
    return {p.id: canonical(run_program(p, ledger, AS_OF)) for p in active_programs()}


def written(output: Path, details: Path) -> dict[str, dict[str, list[dict]]]:
    """A run streamed to Parquet, read back in the form `run_all` gives."""
    scores = pq.read_table(output)
    columns = ["subject", "subject_kind", "status", "score", "clamp", "grade", "percentile"]
    results = {}
    for program in sorted(set(scores.column("program").to_pylist())):
        mine = scores.filter(pc.equal(scores.column("program"), program))
        tables = {"scores": mine.select(columns)}
        tables |= {name: pq.read_table(details / program / name) for name in DETAILS}
        results[program] = {
            name: tables[name].sort_by([(k, "ascending") for k in keys]).to_pylist()
            for name, keys in OUTPUTS.items()
        }
    return results


@pytest.fixture(scope="module")
def city():
    return generate_city(150, seed=5, as_of=AS_OF)


def fill(engine: sa.Engine, city) -> None:
    ingest_tables(
        engine,
        furnishers=city.furnishers,
        registry=city.registry,
        relations=city.relations,
        records=list(city.records.values()),
        now=datetime(2026, 6, 1),
    )
    for batch in CHAIN_BATCHES:  # each its own transaction, in this order of arrival
        ingest_tables(engine, records=[pa.Table.from_pylist(batch)], now=datetime(2026, 6, 1))


# Corrections sent after the city's records, batch by batch: a fine corrected twice (the later
# correction is in force, the earlier superseded too), a correction of a correction (the end of
# the chain is in force) and a corrected chain retracted (nothing is). The last batch re-sends
# two records, one as it was (a duplicate) and one changed (a conflict, refused): it comes last
# so that the ids PostgreSQL's sequence spends on skipped rows follow every stored one.
CHAIN_FURNISHER = "traffic-rongcheng"
S1, S2, S3 = person(901), person(902), person(903)


def fine(subject: str, external_id: str, replaces: str | None = None, **fields) -> dict:
    row = {
        "subject": subject,
        "furnisher": CHAIN_FURNISHER,
        "kind": "traffic.fine_unpaid",
        "occurred_at": datetime(2026, 5, 20, 9),
        "external_id": external_id,
        "value": 200.0,
        "replaces": replaces,
    }
    return {**row, **fields}


CHAIN_BATCHES = [
    [fine(S1, "chain-f1"), fine(S2, "chain-g1"), fine(S3, "chain-h1")],
    [
        fine(S1, "chain-f1-a", "chain-f1", value=150.0),
        fine(S2, "chain-g2", "chain-g1"),
        fine(S3, "chain-h2", "chain-h1"),
    ],
    [
        fine(S1, "chain-f1-b", "chain-f1", value=100.0),
        fine(S2, "chain-g3", "chain-g2"),
        fine(S3, "chain-h-retracted", "chain-h1", kind="record.retracted", value=None),
    ],
    [fine(S1, "chain-f1"), fine(S2, "chain-g1", value=999.0)],
]
IN_FORCE = {"chain-f1-b", "chain-g3"}


@pytest.fixture
def store(tmp_path: Path, store_backend: str, city) -> sa.Engine:
    engine = new_store(tmp_path)
    fill(engine, city)
    return engine


@pytest.fixture(scope="module")
def reference(city, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """DuckDB over the SQLite store's ledger: the results every engine must reproduce."""
    engine = new_store(tmp_path_factory.mktemp("reference"))
    fill(engine, city)
    with engine.connect() as connection:
        results = run_all(backends.duckdb_ledger(read_ledger(connection)))
    assert results["sesame"]["scores"] and results["rongcheng"]["reasons"]
    assert any(c["rule"] == "relationships" for c in results["sesame"]["contributions"])
    return results


def test_the_stores_own_database_matches_duckdb(store: sa.Engine, reference: dict) -> None:
    assert run_all(backends.store_ledger(database.address(store))) == reference


def test_duckdb_over_an_exported_folder_matches(
    store: sa.Engine, reference: dict, tmp_path: Path
) -> None:
    counts = export_ledger(store, tmp_path / "lake", rows_per_file=1000)
    assert counts["records"] > 1000  # several files per table
    assert len(list((tmp_path / "lake" / "records").glob("*.parquet"))) > 1
    assert run_all(backends.duckdb_parquet_ledger(tmp_path / "lake")) == reference


def chain_ids(engine: sa.Engine) -> dict[str, int]:
    """The ledger ids of the chain records, by external id."""
    query = sa.text("SELECT external_id, id FROM records WHERE external_id LIKE 'chain-%'")
    with engine.connect() as connection:
        return {e: i for e, i in connection.execute(query)}


def test_a_chain_counts_once_as_its_latest_received_record(
    store: sa.Engine, reference: dict
) -> None:
    """Every engine matches the reference (the tests above and Spark's), so this holds on all."""
    ids = chain_ids(store)
    assert len(ids) == 9  # the changed re-send was refused
    rongcheng = reference["rongcheng"]
    counted = {r["record_id"] for r in rongcheng["contribution_records"]}
    assert {e for e, i in ids.items() if i in counted} == IN_FORCE
    fines = {
        c["subject"]: c["points"]
        for c in rongcheng["contributions"]
        if c["rule"] == "traffic_fines" and c["subject"] in (S1, S2, S3)
    }
    assert fines == {S1: -5, S2: -5}  # once each, not twice; none for the retracted chain
    with store.connect() as connection:
        kept = connection.execute(
            sa.text("SELECT value FROM records WHERE external_id = 'chain-g1'")
        ).scalar_one()
    assert kept == 200.0


def test_a_changed_resend_is_a_conflict_and_an_identical_one_a_duplicate(
    store: sa.Engine, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.ndjson"
    again = ingest_tables(
        store,
        records=[pa.Table.from_pylist(CHAIN_BATCHES[-1])],
        now=datetime(2026, 6, 2),
        rejects=rejects,
    )
    assert (again.accepted, again.duplicates, again.rejected) == (0, 1, 1)
    [entry] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert entry["line"] == 2 and entry["row"]["external_id"] == "chain-g1"
    assert entry["reason"] == (
        "conflict: differs from the record received 2026-06-01T00:00:00Z; "
        "send a correction with replaces"
    )


@pytest.fixture(scope="module")
def spark():
    session = backends.spark_session("local[2]", shuffle_partitions=2)
    yield session
    session.stop()


def test_spark_matches_duckdb(spark, reference: dict, city, tmp_path: Path) -> None:
    """Spark's results, written by its executors as a lake scoring writes them."""
    engine = new_store(tmp_path)
    fill(engine, city)
    export_ledger(engine, tmp_path / "lake")
    ledger = backends.spark_ledger(spark, tmp_path / "lake")
    output, details = tmp_path / "scores.parquet", tmp_path / "details"
    runs = write_scoring(ledger, output, AS_OF, active_programs(), details=details)
    assert [r.subjects for r in runs] == [len(reference[r.program.id]["scores"]) for r in runs]
    assert written(output, details) == reference


def test_a_local_spark_session_is_quiet(spark) -> None:
    """A command prints only its own progress: Spark logs errors only from its start (a log4j
    configuration read by its JVM) and draws no stage progress bars."""
    assert spark.conf.get("spark.ui.showConsoleProgress") == "false"
    assert backends.QUIET_LOG in spark.conf.get("spark.driver.extraJavaOptions")
    logs = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager
    assert str(logs.getRootLogger().getLevel()) == "ERROR"


def test_score_with_each_engine_from_the_cli(store: sa.Engine, tmp_path: Path) -> None:
    url = store.url.render_as_string(hide_password=False)
    runner = CliRunner()
    outputs = {}
    for engine in ("duckdb", "db"):
        out = tmp_path / f"{engine}.parquet"
        result = runner.invoke(
            app, ["score", "--engine", engine, "--as-of", "2026-06-01", "--output", str(out),
                  "--db", url],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs[engine] = pq.read_table(out)
    columns = {"subject", "program", "policy_version", "as_of", "score", "grade", "percentile"}
    assert columns <= set(outputs["duckdb"].column_names)
    key = [("program", "ascending"), ("subject", "ascending")]
    assert outputs["duckdb"].sort_by(key).equals(outputs["db"].sort_by(key))
    with store.connect() as connection:
        engines = connection.execute(sa.text("select engine from score_runs")).scalars().all()
    runs = len(shipped_program_names())
    assert sorted(engines) == ["db"] * runs + ["duckdb"] * runs


def test_a_ledger_folder_is_scored_without_the_store(
    store: sa.Engine, reference: dict, tmp_path: Path
) -> None:
    runner = CliRunner()
    url = store.url.render_as_string(hide_password=False)
    exported = runner.invoke(app, ["export", str(tmp_path / "lake"), "--db", url])
    assert exported.exit_code == 0, exported.output
    out, details = tmp_path / "scores.parquet", tmp_path / "details"
    (details / "sesame" / "reasons").mkdir(parents=True)
    (details / "sesame" / "reasons" / "stale.parquet").write_text("last run's")
    (details / "notes.txt").write_text("kept")
    result = runner.invoke(
        app, ["score", "--engine", "duckdb", "--ledger", str(tmp_path / "lake"), "--output",
              str(out), "--details", str(details), "--as-of", "2026-06-01",
              "--db", "sqlite:///nowhere/at/all.db"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert set(table.column("program").to_pylist()) == set(shipped_program_names())
    assert table.schema.field("as_of").type == pa.date32()
    assert written(out, details) == reference
    assert (details / "notes.txt").read_text() == "kept"
    assert not (details / "sesame" / "reasons" / "stale.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")) == []
    missing = runner.invoke(app, ["score", "--ledger", str(tmp_path), "--output", str(out)])
    assert missing.exit_code == 1 and "not a ledger folder" in missing.output
    no_output = runner.invoke(app, ["score", "--ledger", str(tmp_path / "lake")])
    assert no_output.exit_code == 1 and "--output" in no_output.output
    no_ledger = runner.invoke(app, ["score", "--details", str(details), "--db", url])
    assert no_ledger.exit_code == 1 and "--ledger" in no_ledger.output


def test_a_failed_lake_run_leaves_no_half_written_file(tmp_path: Path) -> None:
    """A ledger whose records cannot be read fails the run: the last scores stay untouched."""
    for name in backends.LEDGER_TABLES:
        (tmp_path / "lake" / name).mkdir(parents=True)
        (tmp_path / "lake" / name / "part-00000.parquet").write_text("not parquet")
    out, details = tmp_path / "scores.parquet", tmp_path / "details"
    out.write_text("last run's scores")
    with pytest.raises(Exception):  # noqa: B017 - DuckDB's own error for an unreadable file
        score_lake(tmp_path / "lake", out, AS_OF, backend="duckdb", details=details)
    assert out.read_text() == "last run's scores"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "scores.parquet"]


def test_results_are_json_safe_for_show(reference: dict) -> None:
    json.dumps(reference)


def test_duckdb_is_bounded_in_memory_and_spills_outside_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOCIALCREDIT_DUCKDB_MEMORY", "1GB")
    backend = connect("duckdb")
    limit, spill = backend.raw_sql(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    assert limit == "953.6 MiB"  # 1 GB in binary units
    assert Path(spill).is_absolute() and Path(spill) != Path.cwd() / ".tmp"
    monkeypatch.delenv("SOCIALCREDIT_DUCKDB_MEMORY")
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert duckdb_memory_limit() == f"{int(physical * 0.4) // 2**20}MiB"


# ------------------------------------------------------------------ chains, in any arrival order

ARRIVED = datetime(2026, 6, 1)


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[list[dict]], dict[str, list[str]]]:
    """Chains of a furnisher's records (each correction or retraction names an earlier member of
    its chain: double corrections, corrections of corrections), arriving interleaved in batches
    (ingest transactions), with identical re-sends; and the members of each chain in the order
    they arrived."""
    chains: list[list[dict]] = []
    for c in range(draw(st.integers(1, 4), label="chains")):
        members = [record_row(external_id=f"c{c}-0", subject=resident_id(c))]
        for k in range(1, draw(st.integers(0, 4)) + 1):
            named = draw(st.sampled_from(members))["external_id"]
            retraction = draw(st.integers(0, 3)) == 0
            kind = "record.retracted" if retraction else "loan.repaid_on_time"
            members.append(
                record_row(
                    external_id=f"c{c}-{k}", subject=resident_id(c), kind=kind, replaces=named
                )
            )
        chains.append(members)
    turns = draw(st.permutations([c for c, members in enumerate(chains) for _ in members]))
    sent: list[dict] = []
    arrived: dict[str, list[str]] = {}
    for c in turns:  # each chain's members in their own order: nothing names a later one
        row = chains[c][len(arrived.setdefault(f"c{c}", []))]
        arrived[f"c{c}"].append(row["external_id"])
        sent.append(row)
        if draw(st.integers(0, 4)) == 0:
            sent.append(dict(draw(st.sampled_from(sent))))  # the same record again
    cuts = sorted(draw(st.sets(st.integers(1, len(sent) - 1), max_size=4)) if len(sent) > 1 else [])
    bounds = [0, *cuts, len(sent)]
    return [sent[a:b] for a, b in itertools.pairwise(bounds)], arrived


def latest_received(chains: dict[str, list[str]], kinds: dict[str, str]) -> set[str]:
    """The rule, independently: each chain's last arrival is in force unless it withdraws."""
    last = {members[-1] for members in chains.values()}
    return {e for e in last if kinds[e] != RETRACTION_KIND}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=arrivals())
def test_any_arrival_order_leaves_the_latest_received_record_of_each_chain_in_force(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[list[list[dict]], dict[str, list[str]]]
) -> None:
    """The store's chains, the domain's rule, every engine's expression and the lab agree."""
    batches, chains = case
    expected = latest_received(chains, {r["external_id"]: r["kind"] for b in batches for r in b})
    engine = new_store(tmp_path_factory.mktemp("chains"))
    ingest_tables(engine, furnishers=pa.Table.from_pylist(furnisher_rows()), now=ARRIVED)
    for batch in batches:
        ingest_tables(engine, records=[pa.Table.from_pylist(batch)], now=ARRIVED)
    with engine.connect() as connection:
        tables = read_ledger(connection)
        rows = connection.execute(
            sa.text("SELECT id, furnisher, external_id, replaces, chain, kind FROM records")
        ).all()

    assert {r.external_id for r in in_force(rows, lambda r: True)} == expected
    for ledger in (backends.duckdb_ledger(tables), backends.store_ledger(database.address(engine))):
        live = effective_records(ledger.records, superseded_records(ledger.records), 10**6)
        assert set(live.select("external_id").to_pyarrow().column(0).to_pylist()) == expected
    population = population_from_tables(tables, AS_OF)
    records = population.records
    retraction = population.kinds.get(RETRACTION_KIND)
    live_ids = records.id[~out_of_force(records) & (records.kind != (retraction or -1))]
    by_id = {r.id: r.external_id for r in rows}
    assert {by_id[i] for i in live_ids.tolist()} == expected
    engine.dispose()

"""Where the scoring definition runs: the store's own database, DuckDB, or Apache Spark.

Each function returns a Ledger whose tables live on one Ibis backend; the definition in
definition.py runs unchanged on all of them.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.engines.address import StoreAddress
from socialcredit.engines.definition import Ledger
from socialcredit.engines.run import connect, load_ledger

ENGINES = ("db", "duckdb", "spark")
LEDGER_TABLES = ("subjects", "records", "relations")


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (its library is missing or the store cannot host it)."""


def duckdb_ledger(tables: dict[str, pa.Table]) -> Ledger:
    """The ledger's Arrow tables in a fresh in-process DuckDB."""
    return load_ledger(connect("duckdb"), tables)


def duckdb_parquet_ledger(folder: Path) -> Ledger:
    """A Parquet ledger folder (one sub-folder per table), read by DuckDB where it lies."""
    backend = connect("duckdb")
    return Ledger(
        **{name: backend.read_parquet(str(folder / name / "*.parquet")) for name in LEDGER_TABLES}
    )


def store_ledger(address: StoreAddress) -> Ledger:
    """The store's own tables, scored in place by its database (SQLite or PostgreSQL)."""
    backend: Any
    if address.dialect == "sqlite":
        if not address.database or address.database == ":memory:":
            raise EngineUnavailable("the db engine needs a SQLite file, not an in-memory store")
        backend = ibis.sqlite.connect(address.database)
    elif address.dialect == "postgresql":
        backend = ibis.postgres.connect(
            host=address.host or "localhost",
            port=address.port or 5432,
            user=address.user,
            password=address.password,
            database=address.database,
        )
    else:
        raise EngineUnavailable(f"the db engine does not run on {address.dialect}")
    return Ledger(**{name: backend.table(name) for name in LEDGER_TABLES})


# Spark's log configuration when it is to be quiet: errors only.
QUIET_LOG = "log4j2-quiet.properties"


def _quiet_pandas_warnings() -> None:
    """PySpark warns on every pandas conversion that it does not fully support pandas 3; a
    warning about the installation, not the run, which a user can do nothing with."""
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )


def spark_session(
    master: str | None = None, shuffle_partitions: int | None = None, *, verbose: bool = False
) -> Any:
    """A Spark session: SPARK_REMOTE / the given master, else local mode on every core.

    Times are read and written in UTC so day numbers match the other engines. Unless
    `verbose`, a local Spark logs errors only and draws no stage progress bars, so that only
    the command's own progress is printed.
    """
    if not verbose:
        _quiet_pandas_warnings()
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EngineUnavailable(
            "the spark engine needs PySpark: pip install 'socialcredit[spark]'"
        ) from exc
    local = not os.environ.get("SPARK_REMOTE")
    builder = SparkSession.builder.appName("socialcredit")
    if local:
        builder = builder.master(master or os.environ.get("SPARK_MASTER", "local[*]"))
    cores = os.cpu_count() or 2
    builder = (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions or 4 * cores))
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
    )
    with ExitStack() as stack:
        if local and not verbose:
            log = stack.enter_context(as_file(files(__package__).joinpath(QUIET_LOG)))
            builder = builder.config("spark.ui.showConsoleProgress", "false").config(
                "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log}"
            )
        session = builder.getOrCreate()
    if local:
        session.sparkContext.setLogLevel("WARN" if verbose else "ERROR")
    return session


def _spark_constant(session: Any, backend: Any) -> Callable[[pa.Table], ir.Table]:
    """Small constant tables as temporary views (Ibis's in-memory tables do not reach Spark)."""
    counter = itertools.count()

    def constant(table: pa.Table) -> ir.Table:
        name = f"socialcredit_constant_{os.getpid()}_{next(counter)}"
        session.createDataFrame(table).createOrReplaceTempView(name)
        return backend.table(name)

    return constant


def _spark_materialise(session: Any, backend: Any) -> Callable[[ir.Table], ir.Table]:
    """Compute an intermediate result now and cut its lineage (a local checkpoint), so the
    next stage's plan starts from it instead of repeating every stage before."""
    counter = itertools.count()

    def materialise(table: ir.Table) -> ir.Table:
        name = f"socialcredit_stage_{os.getpid()}_{next(counter)}"
        frame = session.sql(backend.compile(table)).localCheckpoint(eager=True)
        frame.createOrReplaceTempView(name)
        return backend.table(name)

    return materialise


def _spark_write(session: Any, backend: Any) -> Callable[[ir.Table, Path], None]:
    """Results written by the executors, one part per partition, never collected."""

    def write(table: ir.Table, folder: Path) -> None:
        session.sql(backend.compile(table)).write.mode("overwrite").parquet(str(folder))

    return write


def spark_ledger(session: Any, folder: Path) -> Ledger:
    """A Parquet ledger folder (or a lake in the same layout) read by Spark."""
    backend = ibis.pyspark.connect(session)
    tables = {name: backend.read_parquet(str(folder / name)) for name in LEDGER_TABLES}
    return Ledger(
        **tables,
        constant=_spark_constant(session, backend),
        materialise=_spark_materialise(session, backend),
        write=_spark_write(session, backend),
    )


def write_parquet_ledger(
    tables: dict[str, pa.Table], folder: Path, rows_per_file: int
) -> list[Path]:
    """Write ledger tables as Parquet, one sub-folder per table, files of at most N rows."""
    written = []
    for name in LEDGER_TABLES:
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*.parquet"):
            old.unlink()
        table = tables[name]
        for part, start in enumerate(range(0, max(table.num_rows, 1), rows_per_file)):
            path = target / f"part-{part:05d}.parquet"
            pq.write_table(table.slice(start, rows_per_file), path)
            written.append(path)
    return written

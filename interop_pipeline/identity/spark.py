"""splink on Spark: the probabilistic pass for more records than one machine's DuckDB holds.

`identity.engine: spark` in the district config runs the model (identity/model.py) on splink's
Spark backend, with its similarity functions (Jaro-Winkler, Damerau-Levenshtein) from the jar
splink ships, registered when the session starts; nothing is fetched. The deterministic passes
stay in DuckDB: they read one row per source record. Here the session is Spark in local mode
inside this process (pyspark; `INTEROP_SPARK_CORES`, `INTEROP_SPARK_DRIVER_MEMORY`); on a
cluster, an active session the process was started with (spark-submit, Databricks) is used
instead. The session starts only when there is something to score. splink's intermediate tables
are persisted in Spark's memory and disk, never written under the working folder, and dropped
when identity resolution ends; a local session is then cleared and stopped, a cluster's keeps
everything else it holds.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa


class SparkEngine:
    """splink on a Spark session (identity/model.py's engine interface), started on first use."""

    dialect = "spark"

    def __init__(self, start: Callable[[], Any]) -> None:
        self._start = start
        self._session = None
        self.databases: list[Any] = []  # one per linker: what splink made in each is dropped at the end

    @property
    def session(self):
        if self._session is None:
            self._session = self._start()
        return self._session

    @property
    def started(self) -> bool:
        return self._session is not None

    def database(self):
        from splink.backends.spark import SparkAPI

        self.databases.append(SparkAPI(spark_session=self.session, break_lineage_method="persist"))
        return self.databases[-1]

    def register(self, db_api, table: pa.Table, name: str):
        # One session serves every linker of a run: a name is registered again by the next one.
        self.session.catalog.dropTempView(name)
        frame = self.session.createDataFrame(table.to_pandas(), schema=spark_schema(table.schema))
        return db_api.register(frame, dataset_display_name=name)

    def query(self, db_api, sql: str) -> pa.Table:
        return pa.Table.from_pandas(db_api.spark.sql(sql).toPandas(), preserve_index=False)


def spark_schema(schema: pa.Schema):
    """The Spark schema of an Arrow one (pyspark 3 infers none for list columns)."""
    from pyspark.sql import types

    def spark_type(arrow: pa.DataType):
        if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
            return types.ArrayType(spark_type(arrow.value_type))
        if pa.types.is_integer(arrow):
            return types.LongType()
        if pa.types.is_floating(arrow):
            return types.DoubleType()
        if pa.types.is_boolean(arrow):
            return types.BooleanType()
        if pa.types.is_date(arrow):
            return types.DateType()
        if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
            return types.StringType()
        raise TypeError(f"no Spark type for {arrow}")

    return types.StructType([types.StructField(f.name, spark_type(f.type), f.nullable) for f in schema])


@contextlib.contextmanager
def spark_engine() -> Iterator[SparkEngine]:
    """The active Spark session (a cluster's), or a local one started on first use with splink's
    similarity functions and stopped at the end; what splink persisted is released either way."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    engine = SparkEngine(lambda: active) if active is not None else SparkEngine(_local_session)
    try:
        yield engine
    finally:
        # The cluster's session keeps everything but splink's own tables; a local one is stopped.
        with contextlib.suppress(Exception):  # a JVM that died has nothing left to release
            for database in engine.databases:
                database.delete_tables_created_by_splink_from_db()
            if engine.started and active is None:
                engine.session.catalog.clearCache()
        if engine.started and active is None:
            engine.session.stop()


def _local_session():
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    cores = os.environ.get("INTEROP_SPARK_CORES", "2")
    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("interop-identity")
        .config("spark.jars", similarity_jar_location())
        .config("spark.driver.memory", os.environ.get("INTEROP_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if cores.isdigit():  # Spark's 200 shuffle partitions are a cluster's; a few per core here
        builder = builder.config("spark.sql.shuffle.partitions", str(int(cores) * 2))
    return builder.getOrCreate()

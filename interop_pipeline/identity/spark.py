"""splink on Spark: the probabilistic pass for more records than one machine's DuckDB holds.

`identity.engine: spark` in the district config runs the model (identity/model.py) on splink's
Spark backend, with its similarity functions (Jaro-Winkler, Damerau-Levenshtein) from the jar
splink ships, registered when the session starts; nothing is fetched. The deterministic passes
stay in DuckDB: they read one row per source record. Here the session is Spark in local mode
inside this process (pyspark; `INTEROP_SPARK_CORES`, `INTEROP_SPARK_DRIVER_MEMORY`); on a
cluster, an active session the process was started with (spark-submit, Databricks) is used
instead. Intermediate tables are persisted in Spark's memory and disk, never written under the
working folder.
"""

from __future__ import annotations

import os

import pyarrow as pa


class SparkEngine:
    """splink on a Spark session (identity/model.py's engine interface)."""

    dialect = "spark"

    def __init__(self, session) -> None:
        self.session = session

    def database(self):
        from splink.backends.spark import SparkAPI

        return SparkAPI(spark_session=self.session, break_lineage_method="persist")

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


def spark_engine() -> SparkEngine:
    """The active Spark session, or a local one started with splink's similarity functions."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    active = SparkSession.getActiveSession()
    if active is not None:
        return SparkEngine(active)
    cores = os.environ.get("INTEROP_SPARK_CORES", "2")
    session = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("interop-identity")
        .config("spark.jars", similarity_jar_location())
        .config("spark.driver.memory", os.environ.get("INTEROP_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.sql.shuffle.partitions", str(int(cores) * 2))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    return SparkEngine(session)

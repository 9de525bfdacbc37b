{#- Landed sources on engines that cannot read a Parquet glob in place of a table name.
    dbt-duckdb reads each source's `external_location` (read_parquet over the landing folder)
    itself; on Spark, the run's first hook (dbt_project.yml on-run-start) registers one view per
    source table, `<source>.<identifier>`, over the same files, so `source()` resolves to it.
    The files' schemas are merged (spark.sql.parquet.mergeSchema in profiles.yml), as DuckDB's
    union_by_name merges them.

    Spark skips files whose names start with an underscore, so it cannot see the zero-row
    `_empty.parquet` that gives a folder with nothing landed its shape. A copy of each, named
    `empty.parquet`, under $INTEROP_SPARK_DIR/landing_placeholders/ in the same relative folder
    (written before the build: tests/warehouse/test_spark_build.py, spark_placeholders), is read
    together with the landed files. -#}
{% macro register_landed_sources() -%}
    {{ return(adapter.dispatch('register_landed_sources')()) }}
{%- endmacro %}

{% macro default__register_landed_sources() -%}
{%- endmacro %}

{% macro spark_placeholder_dir() -%}
    {{ return(env_var('INTEROP_SPARK_DIR', '../data/spark') ~ '/landing_placeholders') }}
{%- endmacro %}

{#- The Parquet glob of a source table: the path inside its external_location's read_parquet('…'),
    with {identifier} filled in; on Spark also the same glob under the placeholder folder. -#}
{% macro landed_source_glob(node) -%}
    {%- set location = node.source_meta.get('external_location') or node.meta.get('external_location') -%}
    {%- if location is none -%}{{ return(none) }}{%- endif -%}
    {%- set path = location.split("'")[1].replace('{identifier}', node.identifier) -%}
    {%- set landing_dir = env_var('INTEROP_LANDING_DIR', '../data/landing') -%}
    {%- if not path.startswith(landing_dir ~ '/') -%}
        {{ exceptions.raise_compiler_error("source " ~ node.unique_id ~ " reads outside the landing folder: " ~ path) }}
    {%- endif -%}
    {%- set relative = path[landing_dir | length:] -%}
    {#- One glob over both folders, {a,b} after their common leading folders (a path that starts
        with a brace would be taken as relative). -#}
    {%- set landing_parts = landing_dir.split('/') -%}
    {%- set placeholder_parts = spark_placeholder_dir().split('/') -%}
    {%- set common = namespace(count=0, open=true) -%}
    {%- for part in landing_parts[:-1] -%}
        {%- if common.open and loop.index0 < placeholder_parts | length - 1 and placeholder_parts[loop.index0] == part -%}
            {%- set common.count = loop.index -%}
        {%- else -%}
            {%- set common.open = false -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(
        (landing_parts[:common.count] | join('/')) ~ '/{' ~ (landing_parts[common.count:] | join('/')) ~ ','
        ~ (placeholder_parts[common.count:] | join('/')) ~ '}' ~ relative
    ) }}
{%- endmacro %}

{#- Only the sources the selected models read (all of them when the selection is unknown):
    registering reads every file's footer. -#}
{% macro spark__register_landed_sources() -%}
    {%- if execute -%}
        {%- set read = [] -%}
        {%- for unique_id in selected_resources or [] if unique_id in graph.nodes -%}
            {%- do read.extend(graph.nodes[unique_id].depends_on.nodes) -%}
        {%- endfor -%}
        {%- set schemas = [] -%}
        {%- for node in graph.sources.values()
            if node.package_name == project_name and (not selected_resources or node.unique_id in read) -%}
            {%- set glob = landed_source_glob(node) -%}
            {%- if glob is not none -%}
                {%- if node.schema not in schemas -%}
                    {%- do run_query('create database if not exists ' ~ node.schema) -%}
                    {%- do schemas.append(node.schema) -%}
                {%- endif -%}
                {%- do run_query(
                    'create or replace view ' ~ node.schema ~ '.`' ~ node.identifier ~ '`'
                    ~ ' as select * from parquet.`' ~ glob ~ '`'
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

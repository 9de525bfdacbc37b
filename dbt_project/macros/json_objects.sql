{#- In a select list: one row per key of a JSON object column (DuckDB: json_keys; Postgres:
    json_object_keys; Spark: explode(map_keys(from_json(...)))). -#}
{% macro json_object_keys(column) -%}
    {{ return(adapter.dispatch('json_object_keys')(column)) }}
{%- endmacro %}

{% macro default__json_object_keys(column) -%}
    {{ exceptions.raise_compiler_error("json_object_keys has no implementation for " ~ target.type) }}
{%- endmacro %}

{% macro duckdb__json_object_keys(column) -%}
    unnest(json_keys({{ column }}))
{%- endmacro %}

{% macro postgres__json_object_keys(column) -%}
    json_object_keys(cast({{ column }} as json))
{%- endmacro %}

{% macro spark__json_object_keys(column) -%}
    explode(map_keys(from_json({{ column }}, 'map<string,string>')))
{%- endmacro %}

{#- The text value of the member named by `key_expression` (a SQL expression) of a JSON object. -#}
{% macro json_text_at_key(column, key_expression) -%}
    {{ return(adapter.dispatch('json_text_at_key')(column, key_expression)) }}
{%- endmacro %}

{% macro default__json_text_at_key(column, key_expression) -%}
    json_value({{ column }}, '$."' || {{ key_expression }} || '"')
{%- endmacro %}

{% macro duckdb__json_text_at_key(column, key_expression) -%}
    json_extract_string({{ column }}, '$."' || {{ key_expression }} || '"')
{%- endmacro %}

{% macro postgres__json_text_at_key(column, key_expression) -%}
    (cast({{ column }} as json) ->> {{ key_expression }})
{%- endmacro %}

{#- Spark's JSON paths have no quoted member names; a map read of the object takes any key. -#}
{% macro spark__json_text_at_key(column, key_expression) -%}
    element_at(from_json({{ column }}, 'map<string,string>'), {{ key_expression }})
{%- endmacro %}

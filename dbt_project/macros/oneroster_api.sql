{#- OneRoster 1.2 JSON (landed by connectors/oneroster_api.py) into the CSV binding's shapes,
    so the REST and CSV channels of an SIS stage alike. -#}

{#- The text values at a JSON path ending in [*] (a list of strings, or a member of a list of
    objects: '$.terms[*].sourcedId'), joined with commas as a OneRoster CSV list is; NULL when
    there are none, as a blank CSV field. -#}
{% macro oneroster_api_text_list(column, path) -%}
    {{ return(adapter.dispatch('oneroster_api_text_list')(column, path)) }}
{%- endmacro %}

{% macro default__oneroster_api_text_list(column, path) -%}
    {{ exceptions.raise_compiler_error("oneroster_api_text_list has no implementation for " ~ target.type) }}
{%- endmacro %}

{% macro duckdb__oneroster_api_text_list(column, path) -%}
    nullif(array_to_string(json_extract_string({{ column }}, '{{ path }}'), ','), '')
{%- endmacro %}

{#- Spark: the array at the path's part before [*] read as strings (an object item stays its JSON
    text), then the rest of the path read from each item. -#}
{% macro spark__oneroster_api_text_list(column, path) -%}
    {%- set array_path, item_path = path.split('[*]', 1) -%}
    {%- set items = spark_json_array_items(column, array_path) -%}
    {%- if item_path -%}
        {%- set items = "transform(" ~ items ~ ", item -> get_json_object(item, '$" ~ item_path ~ "'))" -%}
    {%- endif -%}
    nullif(array_join({{ items }}, ','), '')
{%- endmacro %}

{#- Spark: the items of the JSON array at `path` of a JSON column, as an array of strings (each
    string item its text, each object or array item its JSON text); NULL when there is none. -#}
{% macro spark_json_array_items(column, path) -%}
    from_json(get_json_object({{ column }}, '{{ path }}'), 'array<string>')
{%- endmacro %}

{#- A user's userIds [{type, identifier}] as the CSV binding writes them: {type:identifier},... -#}
{% macro oneroster_api_user_ids(column) -%}
    {{ return(adapter.dispatch('oneroster_api_user_ids')(column)) }}
{%- endmacro %}

{% macro default__oneroster_api_user_ids(column) -%}
    {{ exceptions.raise_compiler_error("oneroster_api_user_ids has no implementation for " ~ target.type) }}
{%- endmacro %}

{% macro duckdb__oneroster_api_user_ids(column) -%}
    nullif(array_to_string(list_transform(
        json_extract({{ column }}, '$.userIds[*]'),
        lambda user_id: '{' || json_extract_string(user_id, '$.type') || ':' || json_extract_string(user_id, '$.identifier') || '}'
    ), ','), '')
{%- endmacro %}

{% macro spark__oneroster_api_user_ids(column) -%}
    nullif(array_join(transform(
        {{ spark_json_array_items(column, '$.userIds') }},
        user_id -> concat('{', get_json_object(user_id, '$.type'), ':', get_json_object(user_id, '$.identifier'), '}')
    ), ','), '')
{%- endmacro %}

{#- In a select list: one row per item (as JSON) of the array at `path` of a JSON column. -#}
{% macro oneroster_api_array_items(column, path) -%}
    {{ return(adapter.dispatch('oneroster_api_array_items')(column, path)) }}
{%- endmacro %}

{% macro default__oneroster_api_array_items(column, path) -%}
    {{ exceptions.raise_compiler_error("oneroster_api_array_items has no implementation for " ~ target.type) }}
{%- endmacro %}

{% macro duckdb__oneroster_api_array_items(column, path) -%}
    unnest(json_extract({{ column }}, '{{ path }}[*]'))
{%- endmacro %}

{% macro spark__oneroster_api_array_items(column, path) -%}
    explode({{ spark_json_array_items(column, path) }})
{%- endmacro %}


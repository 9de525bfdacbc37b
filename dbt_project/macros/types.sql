{#- A point in time with its zone, the type landed extraction times and API timestamps have.
    Spark's TIMESTAMP is one (an instant shown in the session's time zone, UTC here). -#}
{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro spark__type_timestamp_tz() -%}
    timestamp
{%- endmacro %}

{#- A zoned timestamp as the plain (zone-less) timestamp of its UTC wall-clock time. Spark casts
    to TIMESTAMP_NTZ in the session's time zone, which profiles.yml sets to UTC. -#}
{% macro utc_wall_clock(expression) -%}
    {{ return(adapter.dispatch('utc_wall_clock')(expression)) }}
{%- endmacro %}

{% macro default__utc_wall_clock(expression) -%}
    {{ expression }} at time zone 'UTC'
{%- endmacro %}

{% macro spark__utc_wall_clock(expression) -%}
    cast({{ expression }} as timestamp_ntz)
{%- endmacro %}

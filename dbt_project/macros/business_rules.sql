{#- Business rules from the district config (business_rules:), passed by the pipeline as dbt
    vars; dbt_project.yml holds the demo's values for runs by hand. Each macro turns one rule
    into a relation (a select of literal rows) so models join to it like to a seed. -#}

{% macro sql_text(value) -%}
    {%- if value is none -%}null{%- else -%}'{{ value | string | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}

{% macro sql_number(value) -%}
    {%- if value is none -%}cast(null as double){%- else -%}cast({{ value | float }} as double){%- endif -%}
{%- endmacro %}

{#- Configured share of a day each attendance code counts as absent: (source_system,
    source_code, absent_day_fraction). Zero rows when the config sets none. -#}
{% macro configured_absent_day_fractions() -%}
    {%- set rows = [] -%}
    {%- for system, codes in (var('absent_day_fraction') or {}).items() -%}
        {%- for code, fraction in codes.items() -%}
            {%- do rows.append("select " ~ sql_text(system) ~ " as source_system, " ~ sql_text(code)
                ~ " as source_code, " ~ sql_number(fraction) ~ " as absent_day_fraction") -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if rows -%}
        {{ rows | join('\n    union all\n    ') }}
    {%- else -%}
        select cast(null as {{ dbt.type_string() }}) as source_system, cast(null as {{ dbt.type_string() }}) as source_code,
            cast(null as double) as absent_day_fraction
        where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#- The chronic-absence definitions, one row each: definition_name, definition_description,
    min_absence_rate, min_days_absent (exactly one set), min_days_enrolled, count_excused. -#}
{% macro chronic_absence_definitions() -%}
    {%- set rows = [] -%}
    {%- for d in var('chronic_absence_definitions') -%}
        {%- do rows.append(
            "select " ~ sql_text(d['name']) ~ " as definition_name, "
            ~ sql_text(d.get('description') or '') ~ " as definition_description, "
            ~ sql_number(d.get('min_absence_rate')) ~ " as min_absence_rate, "
            ~ sql_number(d.get('min_days_absent')) ~ " as min_days_absent, "
            ~ "cast(" ~ (d.get('min_days_enrolled') or 1) | int ~ " as integer) as min_days_enrolled, "
            ~ ("true" if d.get('count_excused', true) else "false") ~ " as count_excused"
        ) -%}
    {%- endfor -%}
    {{ rows | join('\n    union all\n    ') }}
{%- endmacro %}

{#- The last day counted year to date: the configured date, or else the latest date in the
    attendance export (a select of one date). -#}
{% macro attendance_through_date(events_relation, date_column) -%}
    {%- if var('attendance_through_date', none) -%}
        select cast('{{ var("attendance_through_date") }}' as date) as through_date
    {%- else -%}
        select max({{ date_column }}) as through_date from {{ events_relation }}
    {%- endif -%}
{%- endmacro %}

{#- One early-warning threshold (business_rules.early_warning.<name>). -#}
{% macro early_warning_threshold(name) -%}
    {{ sql_number(var('early_warning')[name]) }}
{%- endmacro %}

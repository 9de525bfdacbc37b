{#- A OneRoster user's district (local) and state IDs.

    OneRoster users carry their IDs twice: in a field of their own (identifier for the district's
    number, userMasterIdentifier in 1.2) and in userIds, a list written {type:identifier},...
    in the CSV binding ("{Local:863}", "{SIS:1001},{State:CA123}"; the REST channel's staging
    writes its [{type, identifier}] objects the same way). Rostering hubs' 1.1 exports often
    leave identifier blank and put the district's number in userIds only. The business rule
    sis_user_id_types (business_rules.sis_user_id_types in the district config) names the types
    that carry each ID, most preferred first; types match case-insensitively, and an item with
    an empty identifier does not count.

    Plain ANSI string functions (position, substring, trim, lower) through dbt's cross-database
    macros, so any engine runs the default; an engine may supply its own user_id_of_type. -#}

{#- The ID the user's own field holds, else the first userIds item of one of `id_types`. -#}
{% macro sis_user_id(own_column, user_ids_column, id_types) -%}
    coalesce(
        case when trim({{ own_column }}) <> '' then {{ own_column }} end,
        {{ user_id_by_precedence(user_ids_column, id_types) }}
    )
{%- endmacro %}

{#- The identifier of the first of `id_types` the userIds list has, NULL when it has none. -#}
{% macro user_id_by_precedence(user_ids_column, id_types) -%}
    {%- if id_types | length == 0 -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        coalesce(
            {%- for id_type in id_types %}
            {{ user_id_of_type(user_ids_column, id_type) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{#- The identifier of the first "{<id_type>:...}" item of a userIds list, trimmed; NULL when
    the list has no such item or its identifier is empty. -#}
{% macro user_id_of_type(user_ids_column, id_type) -%}
    {{ return(adapter.dispatch('user_id_of_type')(user_ids_column, id_type)) }}
{%- endmacro %}

{% macro default__user_id_of_type(user_ids_column, id_type) -%}
    {%- set prefix = '{' ~ (id_type | lower) ~ ':' -%}
    {%- set start = dbt.position(sql_text(prefix), 'lower(' ~ user_ids_column ~ ')') -%}
    {%- set rest = 'substring(' ~ user_ids_column ~ ' from ' ~ start ~ ' + ' ~ (prefix | length) ~ ')' -%}
    {%- set close = dbt.position("'}'", rest) -%}
    case
        when {{ start }} > 0 and {{ close }} > 1
            then nullif(trim(substring({{ rest }} from 1 for {{ close }} - 1)), '')
    end
{%- endmacro %}

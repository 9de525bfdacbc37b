{#- Deterministic surrogate key from a natural key: md5 of the parts joined by '|', with NULL
    spelled out so ('a', NULL) and (NULL, 'a') differ. Built on dbt's cross-database macros. -#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(" ~ dbt.cast(column, dbt.type_string()) ~ ", '_null_')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

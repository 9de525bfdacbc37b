{#- A grade as the SIS writes it (KG, 01 … 12): vendors write K and 3. Other values (PK, TK, 13,
    Other) pass through upper-cased, so they still compare equal across systems. -#}
{% macro person_grade_level(column) -%}
    case
        when upper(trim({{ column }})) in ('K', 'KG', 'KINDERGARTEN') then 'KG'
        when length(trim({{ column }})) = 1 and trim({{ column }}) between '0' and '9'
            then {{ dbt.concat(["'0'", 'trim(' ~ column ~ ')']) }}
        else upper(trim({{ column }}))
    end
{%- endmacro %}

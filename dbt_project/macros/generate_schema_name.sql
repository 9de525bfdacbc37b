{#- Use a model's custom schema as is (staging, reference), and the target schema (main) for the
    marts, so analysts query `dim_student`, not `main_marts.dim_student`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}

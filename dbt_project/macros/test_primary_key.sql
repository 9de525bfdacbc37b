{#- Key test: every row has the key, and no two rows share it. The key is one column (as a
    column's test) or the model's grain (`columns`, as a model's test). One query does what
    not_null and unique (or unique_combination_of_columns and a not_null per column) would do in
    several: each dbt test is a node of its own with its own start-up, and a build runs hundreds.
    Each row returned is a key value that is missing or repeated. -#}
{% test primary_key(model, column_name=none, columns=none) %}
    {%- set key = columns if columns else [column_name] %}
    select {{ key | join(', ') }}, count(*) as rows_with_this_key
    from {{ model }}
    group by {{ key | join(', ') }}
    having count(*) > 1 or {{ key | join(' is null or ') }} is null
{% endtest %}

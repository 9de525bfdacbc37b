{#- Warning-style test: fails with every row of the model (e.g. each unmapped code with its
    source, entity and field), so the failure lists what to fix. -#}
{% test has_no_rows(model, columns) %}
    select {{ columns | join(', ') }} from {{ model }}
{% endtest %}

{#- Small-cell suppression for aggregate reports about students, with complementary
    suppression.

    relation:    a relation or select (in parentheses) of cells: one row per cell, with a unique
                 `cell_id`, the `dimensions` columns and `count_column` (the cell's students).
    dimensions:  every column that identifies a cell (for example school, grade, subgroup).
    margins:     the additive constraints a reader could use to recompute a cell; each is
                 {dimension, total, members}: within rows equal on every other dimension, the
                 row where the SQL condition `total` holds is the sum of the rows where `members`
                 holds (grades add up to all grades; race/ethnicity groups to all students).
    min_n:       a cell of fewer students is suppressed (reason 'small_cell'); a cell of zero
                 students is not a row at all, so it is never published and needs no cover.
    condition_columns: columns the margins' conditions read besides the dimensions (e.g.
                 subgroup_type). They must be carried through every pass: a column missing there
                 would be bound to the outer query by the engine (DuckDB joins derived tables
                 laterally) and silently give wrong groups.

    Complementary suppression: in any margin group holding exactly one suppressed row, the
    unsuppressed row with the fewest students (ties: by the dimensions) is suppressed too
    (reason 'complementary'), so no suppressed cell is the difference of published ones. That
    can open a new single suppression in another margin, so the margins are applied `passes`
    times; the complementary_suppression test proves the result holds for every margin.

    Returns the relation's columns plus suppression_reason (NULL when published); the caller
    nulls the counts and rates of suppressed cells. -#}
{% macro suppress_small_cells(relation, count_column, dimensions, margins, min_n, condition_columns=[], passes=6) -%}
    {%- set carried = ['cell_id'] + dimensions + condition_columns + [count_column] -%}
    {%- set step = namespace(sql="(select " ~ carried | join(', ') ~ ", case when " ~ count_column ~ " < "
        ~ min_n ~ " then 'small_cell' end as suppression_reason from " ~ relation ~ " as cells)") -%}
    {%- for pass in range(passes) -%}
        {%- for margin in margins -%}
            {%- set others = dimensions | reject('equalto', margin.dimension) | list -%}
            {%- set in_margin = "((" ~ margin.total ~ ") or (" ~ margin.members ~ "))" -%}
            {%- set step.sql -%}
                (
                    select
                        {{ carried | join(', ') }},
                        case
                            when suppression_reason is null and in_margin = 1 and suppressed_in_group = 1
                                and cover_rank = 1 then 'complementary'
                            else suppression_reason
                        end as suppression_reason
                    from (
                        select
                            previous.*,
                            case when {{ in_margin }} then 1 else 0 end as in_margin,
                            sum(case when {{ in_margin }} and previous.suppression_reason is not null then 1 else 0 end)
                                over (partition by {{ others | join(', ') }}, case when {{ in_margin }} then 1 else 0 end)
                                as suppressed_in_group,
                            row_number() over (
                                partition by {{ others | join(', ') }}, case when {{ in_margin }} then 1 else 0 end
                                order by case when previous.suppression_reason is null then 0 else 1 end,
                                    {{ count_column }}, {{ dimensions | join(', ') }}
                            ) as cover_rank
                        from {{ step.sql }} as previous
                    ) as ranked
                )
            {%- endset -%}
        {%- endfor -%}
    {%- endfor -%}
    select cells.*, suppressed.suppression_reason
    from {{ relation }} as cells
    inner join {{ step.sql }} as suppressed on cells.cell_id = suppressed.cell_id
{%- endmacro %}

{#- Test: in every margin group, the number of suppressed rows is 0 or at least 2 (so no
    suppressed cell can be recomputed from the published ones and the total). Fails with the
    groups that break it. -#}
{% test complementary_suppression(model, dimensions, margins, suppressed_condition) %}
    {%- for margin in margins %}
    {%- set others = dimensions | reject('equalto', margin.dimension) | list %}
    {%- set parts = [] %}
    {%- for column in others %}
        {%- do parts.append("coalesce(" ~ dbt.cast(column, dbt.type_string()) ~ ", '(total)')") %}
        {%- if not loop.last %}{% do parts.append("' | '") %}{% endif %}
    {%- endfor %}
    select
        '{{ margin.dimension }}' as margin,
        {{ dbt.concat(parts) }} as margin_group,
        sum(case when {{ suppressed_condition }} then 1 else 0 end) as suppressed_cells
    from {{ model }}
    where ({{ margin.total }}) or ({{ margin.members }})
    group by {{ others | join(', ') }}
    having sum(case when {{ suppressed_condition }} then 1 else 0 end) = 1
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{% endtest %}

{#- The margins of a report by school (null: the district), grade ('all': every grade) and ESSA
    subgroup (race/ethnicity groups add up to all students; program groups overlap and add up to
    nothing), as suppress_small_cells takes them. Its conditions read subgroup_type, so pass
    condition_columns=['subgroup_type'] with it. -#}
{% macro school_grade_subgroup_margins() -%}
    {{ return([
        {'dimension': 'grade_level', 'total': "grade_level = 'all'", 'members': "grade_level <> 'all'"},
        {'dimension': 'school_key', 'total': 'school_key is null', 'members': 'school_key is not null'},
        {'dimension': 'subgroup', 'total': "subgroup = 'all_students'", 'members': "subgroup_type = 'race_ethnicity'"},
    ]) }}
{%- endmacro %}

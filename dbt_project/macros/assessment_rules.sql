{#- Proficiency rules (business_rules.proficiency_cut_scores in the district config, passed as
    the dbt var proficiency_cut_scores), and the ESSA reporting subgroups the aggregate marts
    share. -#}

{#- Configured cut scores, one row per level: assessment (assessment_name as fct_assessment_result
    has it), subject (NULL: every subject), grade_level (CEDS), performance level, its minimum
    scale score and whether it counts as proficient. Zero rows when the config sets none. -#}
{% macro configured_proficiency_cut_scores() -%}
    {%- set rows = [] -%}
    {%- for cut in var('proficiency_cut_scores') or [] -%}
        {%- for level, minimum in cut['level_minimums'].items() -%}
            {%- do rows.append(
                "select " ~ sql_text(cut['assessment']) ~ " as assessment_name, "
                ~ sql_text(cut.get('subject')) ~ " as subject, "
                ~ sql_text(cut['grade_level']) ~ " as grade_level, "
                ~ sql_text(level) ~ " as performance_level, "
                ~ sql_number(minimum) ~ " as level_minimum, "
                ~ ("true" if level | string in cut['proficient_levels'] | map('string') | list else "false")
                ~ " as is_proficient_level"
            ) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if rows -%}
        {{ rows | join('\n    union all\n    ') }}
    {%- else -%}
        select cast(null as {{ dbt.type_string() }}) as assessment_name, cast(null as {{ dbt.type_string() }}) as subject,
            cast(null as {{ dbt.type_string() }}) as grade_level, cast(null as {{ dbt.type_string() }}) as performance_level,
            cast(null as double) as level_minimum, false as is_proficient_level
        where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#- The ESSA reporting subgroups of each student of `students` (a relation with dim_student's
    columns): one row per student per subgroup, all students included once as all_students.
    Grade and subgroups are the student's current ones. -#}
{% macro essa_subgroups(students) -%}
    select student_key, 'all' as subgroup_type, 'all_students' as subgroup from {{ students }}
    union all
    select student_key, 'race_ethnicity', race_ethnicity_code from {{ students }} where race_ethnicity_code is not null
    union all
    select student_key, 'program', 'economically_disadvantaged' from {{ students }} where is_economically_disadvantaged
    union all
    select student_key, 'program', 'students_with_disabilities' from {{ students }} where has_idea_services
    union all
    select student_key, 'program', 'english_learners' from {{ students }} where is_english_learner
    union all
    select student_key, 'program', 'homeless' from {{ students }} where is_homeless
{%- endmacro %}

{#- A CEDS grade level code as a number for comparing placements: PK -1, KG 0, 01 … 13 as
    numbers; NULL for any other code (ungraded, adult). -#}
{% macro grade_level_number(column) -%}
    case
        when {{ column }} = 'PK' then -1
        when {{ column }} = 'KG' then 0
        when {{ column }} in ('01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12', '13')
            then cast({{ column }} as integer)
    end
{%- endmacro %}

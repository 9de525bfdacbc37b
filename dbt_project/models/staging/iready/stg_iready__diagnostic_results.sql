-- ELA and Math diagnostics arrive as separate exports with subject-specific columns; this
-- model puts them in one shape, keeping each subject's own measure (Lexile or Quantile).
{% set key = ['student_id', 'subject', 'school_year', 'start_date', 'completion_date'] %}

with ela as (
    select * from {{ current_appended_records('iready', 'diagnostic_ela', key) }} as records
),

math as (
    select * from {{ current_appended_records('iready', 'diagnostic_math', key) }} as records
),

{% set common_columns %}
        _district_code as district_code,
        student_id as vendor_student_id,
        student_state_id as state_student_id,
        student_grade,
        school as school_name,
        academic_year,
        cast(school_year as integer) as school_year,
        subject,
        cast(start_date as date) as start_date,
        cast(completion_date as date) as completion_date,
        norming_window,
        baseline_diagnostic,
        most_recent_diagnostic_ytd,
        cast(duration_minutes as integer) as duration_minutes,
        cast(overall_scale_score as integer) as scale_score,
        overall_placement,
        overall_placement_level,
        cast(overall_placement_grade as integer) as overall_placement_grade,
        overall_relative_placement,
        cast(percentile as integer) as percentile,
{%- endset %}

unioned as (
    select
        {{ common_columns }}
        'lexile' as measure_type,
        cast(lexile_measure as integer) as measure,
        _batch_id as batch_id,
        _source_ref as source_ref
    from ela
    union all
    select
        {{ common_columns }}
        'quantile' as measure_type,
        cast(quantile_measure as integer) as measure,
        _batch_id as batch_id,
        _source_ref as source_ref
    from math
)

select * from unioned

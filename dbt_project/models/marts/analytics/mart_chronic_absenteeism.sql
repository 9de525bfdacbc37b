-- Chronic absenteeism by school (and district), grade and ESSA subgroup per definition, safe
-- to share: a cell of fewer than business_rules.suppression_min_n students is suppressed, and
-- complementary cells with it, so no suppressed cell can be recomputed from the published cells
-- and totals (grades → all grades, schools → district, race/ethnicity groups → all students).
-- Counts and rates of a suppressed cell are both NULL. See macros/suppression.sql.
{% set margins = school_grade_subgroup_margins() %}

with cells as (
    select * from {{ ref('int_chronic_absence__aggregated') }}
),

schools as (
    select school_key, school_name from {{ ref('dim_school') }}
),

suppressed as (
    {{ suppress_small_cells(
        'cells',
        'students_measured',
        ['definition_name', 'school_key', 'grade_level', 'subgroup'],
        margins,
        var('suppression_min_n'),
        condition_columns=['subgroup_type'],
    ) }}
),

final as (
    select
        suppressed.cell_id as chronic_absenteeism_key,
        suppressed.district_code,
        suppressed.definition_name,
        suppressed.reporting_level,
        suppressed.school_key,
        coalesce(schools.school_name, 'All schools') as school_name,
        suppressed.grade_level,
        suppressed.subgroup_type,
        suppressed.subgroup,
        suppressed.through_date,
        suppressed.suppression_reason is not null as is_suppressed,
        suppressed.suppression_reason,
        case when suppressed.suppression_reason is null then suppressed.students_measured end as students_measured,
        case when suppressed.suppression_reason is null then suppressed.students_chronically_absent end
            as students_chronically_absent,
        case when suppressed.suppression_reason is null
            then suppressed.students_chronically_absent * 1.0 / suppressed.students_measured end
            as chronic_absenteeism_rate
    from suppressed
    left join schools on suppressed.school_key = schools.school_key
)

select * from final

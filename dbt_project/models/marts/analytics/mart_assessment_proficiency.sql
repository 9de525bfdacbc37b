-- Assessment proficiency by administration (test and subject, school year, season), school (and
-- district), grade assessed and ESSA subgroup, safe to share: proficiency is decided per result
-- by the configured cut scores (business_rules.proficiency_cut_scores) or else the vendor's own
-- performance level (int_assessment_results__scored). A cell of fewer than
-- business_rules.suppression_min_n students is suppressed, and complementary cells with it, so
-- no suppressed cell can be recomputed from the published cells and totals (grades → all
-- grades, schools → district, race/ethnicity groups → all students). Counts and rates of a
-- suppressed cell are both NULL. See macros/suppression.sql.
{% set margins = school_grade_subgroup_margins() %}

with cells as (
    select * from {{ ref('int_assessment_proficiency__aggregated') }}
),

assessments as (
    select * from {{ ref('dim_assessment') }}
),

schools as (
    select school_key, school_name from {{ ref('dim_school') }}
),

suppressed as (
    {{ suppress_small_cells(
        'cells',
        'students_tested',
        ['assessment_key', 'school_year', 'season', 'school_key', 'grade_level', 'subgroup'],
        margins,
        var('suppression_min_n'),
        condition_columns=['subgroup_type'],
    ) }}
),

final as (
    select
        suppressed.cell_id as assessment_proficiency_key,
        suppressed.district_code,
        suppressed.assessment_key,
        assessments.vendor,
        assessments.assessment_name,
        assessments.subject,
        suppressed.school_year,
        suppressed.season,
        suppressed.reporting_level,
        suppressed.school_key,
        coalesce(schools.school_name, 'All schools') as school_name,
        suppressed.grade_level,
        suppressed.subgroup_type,
        suppressed.subgroup,
        suppressed.suppression_reason is not null as is_suppressed,
        suppressed.suppression_reason,
        case when suppressed.suppression_reason is null then suppressed.students_tested end as students_tested,
        case when suppressed.suppression_reason is null then suppressed.students_proficient end
            as students_proficient,
        case when suppressed.suppression_reason is null
            then suppressed.students_proficient * 1.0 / suppressed.students_tested end as proficiency_rate
    from suppressed
    inner join assessments on suppressed.assessment_key = assessments.assessment_key
    left join schools on suppressed.school_key = schools.school_key
)

select * from final

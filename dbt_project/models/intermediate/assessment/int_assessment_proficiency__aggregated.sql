-- Proficiency counts by assessment administration (test and subject, school year, season),
-- school, grade assessed and ESSA subgroup, before suppression: the cells
-- mart_assessment_proficiency publishes. Totals are rows too: the district (school_key NULL),
-- all grades (grade_level 'all'), all students (subgroup 'all_students'). A student counts once
-- per administration, with the latest result of it, at the student's current school and in the
-- subgroups of dim_student; results not linked to a student, or with no proficiency decided,
-- are not counted.
with scored as (
    select * from {{ ref('int_assessment_results__scored') }}
    where student_key is not null and is_proficient is not null
),

students as (
    select * from {{ ref('dim_student') }}
),

subgroups as (
    {{ essa_subgroups('students') }}
),

latest as (
    select
        scored.*,
        row_number() over (
            partition by scored.student_key, scored.assessment_key, scored.school_year, scored.season
            order by scored.test_date desc, scored.assessment_result_key
        ) as result_rank
    from scored
),

tested as (
    select
        latest.district_code,
        latest.assessment_key,
        latest.school_year,
        latest.season,
        latest.student_key,
        students.current_school_key as school_key,
        coalesce(latest.grade_level_assessed, 'unknown') as grade_level,
        latest.is_proficient
    from latest
    inner join students on latest.student_key = students.student_key
    where latest.result_rank = 1
),

-- Each student's result four times: school and district, its grade and all grades.
placed as (
    select tested.*, 'school' as reporting_level from tested where school_key is not null
    union all
    select
        district_code, assessment_key, school_year, season, student_key, cast(null as {{ dbt.type_string() }}) as school_key,
        grade_level, is_proficient, 'district' as reporting_level
    from tested
),

graded as (
    select * from placed
    union all
    select
        district_code, assessment_key, school_year, season, student_key, school_key,
        'all' as grade_level, is_proficient, reporting_level
    from placed
),

final as (
    select
        {{ surrogate_key([
            'graded.assessment_key', 'graded.school_year', 'graded.season', 'graded.school_key',
            'graded.grade_level', 'subgroups.subgroup',
        ]) }} as cell_id,
        graded.district_code,
        graded.assessment_key,
        graded.school_year,
        graded.season,
        graded.reporting_level,
        graded.school_key,
        graded.grade_level,
        subgroups.subgroup_type,
        subgroups.subgroup,
        count(*) as students_tested,
        sum(case when graded.is_proficient then 1 else 0 end) as students_proficient
    from graded
    inner join subgroups on graded.student_key = subgroups.student_key
    group by
        graded.district_code, graded.assessment_key, graded.school_year, graded.season,
        graded.reporting_level, graded.school_key, graded.grade_level, subgroups.subgroup_type,
        subgroups.subgroup
)

select * from final

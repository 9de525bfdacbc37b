-- Chronic absence counts by reporting level, school, grade and ESSA subgroup per definition,
-- before suppression: the cells mart_chronic_absenteeism publishes. Totals are rows too: the
-- district (school_key NULL), all grades (grade_level 'all'), all students (subgroup
-- 'all_students'). A student counts in a school's cells with the days enrolled and absent at
-- that school, and in the district's with the district-wide days; only students measured by
-- the definition (enough days enrolled) are counted. Grade and subgroups are the student's
-- current ones (dim_student).
with student_attendance as (
    select * from {{ ref('mart_student_attendance') }} where is_measured
),

students as (
    select * from {{ ref('dim_student') }}
),

subgroups as (
    select student_key, 'all' as subgroup_type, 'all_students' as subgroup from students
    union all
    select student_key, 'race_ethnicity', race_ethnicity_code from students where race_ethnicity_code is not null
    union all
    select student_key, 'program', 'economically_disadvantaged' from students where is_economically_disadvantaged
    union all
    select student_key, 'program', 'students_with_disabilities' from students where has_idea_services
    union all
    select student_key, 'program', 'english_learners' from students where is_english_learner
    union all
    select student_key, 'program', 'homeless' from students where is_homeless
),

-- Each student record twice: in its grade, and in all grades.
graded as (
    select student_attendance.*, coalesce(students.grade_level, 'unknown') as grade_level
    from student_attendance
    inner join students on student_attendance.student_key = students.student_key
    union all
    select student_attendance.*, 'all' as grade_level
    from student_attendance
),

final as (
    select
        {{ surrogate_key(['graded.definition_name', 'graded.school_key', 'graded.grade_level', 'subgroups.subgroup']) }}
            as cell_id,
        graded.district_code,
        graded.definition_name,
        graded.reporting_level,
        graded.school_key,
        graded.grade_level,
        subgroups.subgroup_type,
        subgroups.subgroup,
        min(graded.through_date) as through_date,
        count(*) as students_measured,
        sum(case when graded.is_chronically_absent then 1 else 0 end) as students_chronically_absent
    from graded
    inner join subgroups on graded.student_key = subgroups.student_key
    group by
        graded.district_code, graded.definition_name, graded.reporting_level, graded.school_key,
        graded.grade_level, subgroups.subgroup_type, subgroups.subgroup
)

select * from final

-- Early-warning indicators per student, year to date, with the thresholds that fired
-- (business_rules.early_warning in the district config):
-- * attendance: severe below attendance_rate_severe, at risk below attendance_rate_at_risk;
--   unexcused absences at or above unexcused_days_absent; chronic absence under any definition.
--   Students enrolled fewer than min_days_enrolled days are not flagged ('not_measured').
-- * coursework: LMS course grades whose current score is below failing_score_below
--   (fct_course_grade), at or above failing_course_grades of them; missing assignments
--   (fct_lms_submission) at or above missing_assignment_rate of the assignments due, once at
--   least min_assignments_due are due. Students with no LMS course grade or submission are not
--   measured (NULL counts, is_coursework_flagged NULL).
-- * assessment: each student's latest result per test and subject (int_assessment_results__scored,
--   proficiency from the configured cut scores or the vendor's level): at or above
--   assessments_below_proficient of them below proficient, or any below the national
--   assessment_percentile_below. Students with no result are not measured (NULLs).
{% set rules = var('early_warning') %}
with student_attendance as (
    select * from {{ ref('mart_student_attendance') }} where reporting_level = 'district'
),

students as (
    select student_key, current_school_key, grade_level from {{ ref('dim_student') }}
),

course_grades as (
    select * from {{ ref('fct_course_grade') }} where student_key is not null
),

submissions as (
    select * from {{ ref('fct_lms_submission') }} where student_key is not null
),

assessment_results as (
    select * from {{ ref('int_assessment_results__scored') }} where student_key is not null
),

coursework as (
    select
        student_key,
        sum(case when current_score < {{ early_warning_threshold('failing_score_below') }} then 1 else 0 end)
            as failing_course_grades
    from course_grades
    group by student_key
),

assignments_due as (
    select
        student_key,
        count(*) as assignments_due,
        sum(case when is_missing then 1 else 0 end) as missing_assignments
    from submissions
    group by student_key
),

latest_results as (
    select
        assessment_results.*,
        row_number() over (
            partition by student_key, assessment_key
            order by test_date desc, assessment_result_key
        ) as result_rank
    from assessment_results
),

assessments as (
    select
        student_key,
        count(*) as latest_results,
        sum(case when not is_proficient then 1 else 0 end) as assessments_below_proficient,
        sum(case when percentile < {{ early_warning_threshold('assessment_percentile_below') }} then 1 else 0 end)
            as results_below_percentile
    from latest_results
    where result_rank = 1
    group by student_key
),

coursework_indicators as (
    select
        coalesce(coursework.student_key, assignments_due.student_key) as student_key,
        coursework.failing_course_grades,
        assignments_due.assignments_due,
        assignments_due.missing_assignments,
        coalesce(coursework.failing_course_grades, 0) >= {{ rules['failing_course_grades'] | int }} as failing_at_limit,
        coalesce(assignments_due.assignments_due, 0) >= {{ rules['min_assignments_due'] | int }}
            and assignments_due.missing_assignments
                >= {{ early_warning_threshold('missing_assignment_rate') }} * assignments_due.assignments_due
            as missing_at_limit
    from coursework
    full outer join assignments_due on coursework.student_key = assignments_due.student_key
),

assessment_indicators as (
    select
        assessments.*,
        assessments.assessments_below_proficient >= {{ rules['assessments_below_proficient'] | int }}
            as below_proficient_at_limit,
        assessments.results_below_percentile > 0 as below_percentile
    from assessments
),

per_student as (
    select
        district_code,
        student_key,
        max(through_date) as through_date,
        max(days_enrolled) as days_enrolled,
        max(days_absent) as days_absent,
        max(unexcused_days_absent) as unexcused_days_absent,
        max(attendance_rate) as attendance_rate,
        sum(case when is_chronically_absent then 1 else 0 end) as chronic_definitions_met,
        {{ dbt.listagg(
            "case when is_chronically_absent then definition_name end", "', '", "order by definition_name"
        ) }} as chronic_absence_definitions
    from student_attendance
    group by district_code, student_key
),

indicators as (
    select
        per_student.*,
        per_student.days_enrolled >= {{ var('early_warning')['min_days_enrolled'] | int }} as is_measured,
        per_student.attendance_rate < {{ early_warning_threshold('attendance_rate_severe') }} as below_severe,
        per_student.attendance_rate < {{ early_warning_threshold('attendance_rate_at_risk') }} as below_at_risk,
        per_student.unexcused_days_absent >= {{ early_warning_threshold('unexcused_days_absent') }}
            as unexcused_at_limit
    from per_student
),

final as (
    select
        indicators.district_code,
        indicators.student_key,
        students.current_school_key as school_key,
        students.grade_level,
        indicators.through_date,
        indicators.days_enrolled,
        indicators.days_absent,
        indicators.unexcused_days_absent,
        indicators.attendance_rate,
        case
            when not indicators.is_measured then 'not_measured'
            when indicators.below_severe then 'severe'
            when indicators.below_at_risk or indicators.unexcused_at_limit or indicators.chronic_definitions_met > 0
                then 'at_risk'
            else 'on_track'
        end as attendance_risk_level,
        indicators.is_measured and (
            indicators.below_at_risk or indicators.unexcused_at_limit or indicators.chronic_definitions_met > 0
        ) as is_attendance_flagged,
        case when indicators.is_measured then nullif(
            {{ dbt.concat([
                "case when indicators.below_severe then 'attendance_rate < " ~ var('early_warning')['attendance_rate_severe'] ~ "; ' else '' end",
                "case when indicators.below_at_risk and not indicators.below_severe then 'attendance_rate < " ~ var('early_warning')['attendance_rate_at_risk'] ~ "; ' else '' end",
                "case when indicators.unexcused_at_limit then 'unexcused_days_absent >= " ~ var('early_warning')['unexcused_days_absent'] ~ "; ' else '' end",
                "case when indicators.chronic_definitions_met > 0 then 'chronically absent: ' || indicators.chronic_absence_definitions else '' end",
            ]) }}, '') end as attendance_thresholds_fired,
        indicators.chronic_absence_definitions,
        cast(coursework_indicators.failing_course_grades as integer) as failing_course_grades,
        cast(coursework_indicators.assignments_due as integer) as assignments_due,
        cast(coursework_indicators.missing_assignments as integer) as missing_assignments,
        case when coursework_indicators.student_key is not null
            then coursework_indicators.failing_at_limit or coursework_indicators.missing_at_limit
        end as is_coursework_flagged,
        cast(assessment_indicators.latest_results as integer) as latest_assessment_results,
        cast(assessment_indicators.assessments_below_proficient as integer) as assessments_below_proficient,
        cast(assessment_indicators.results_below_percentile as integer) as assessments_below_percentile,
        case when assessment_indicators.student_key is not null
            then assessment_indicators.below_proficient_at_limit or assessment_indicators.below_percentile
        end as is_assessment_flagged,
        nullif({{ dbt.concat([
            "case when coursework_indicators.failing_at_limit then 'failing_course_grades >= " ~ rules['failing_course_grades'] ~ " (current score < " ~ rules['failing_score_below'] ~ "); ' else '' end",
            "case when coursework_indicators.missing_at_limit then 'missing_assignment_rate >= " ~ rules['missing_assignment_rate'] ~ "; ' else '' end",
        ]) }}, '') as coursework_thresholds_fired,
        nullif({{ dbt.concat([
            "case when assessment_indicators.below_proficient_at_limit then 'assessments_below_proficient >= " ~ rules['assessments_below_proficient'] ~ "; ' else '' end",
            "case when assessment_indicators.below_percentile then 'percentile < " ~ rules['assessment_percentile_below'] ~ "; ' else '' end",
        ]) }}, '') as assessment_thresholds_fired
    from indicators
    left join students on indicators.student_key = students.student_key
    left join coursework_indicators on indicators.student_key = coursework_indicators.student_key
    left join assessment_indicators on indicators.student_key = assessment_indicators.student_key
)

select * from final

-- Early-warning indicators per student, year to date, with the thresholds that fired
-- (business_rules.early_warning in the district config):
-- * attendance: severe below attendance_rate_severe, at risk below attendance_rate_at_risk;
--   unexcused absences at or above unexcused_days_absent; chronic absence under any definition.
--   Students enrolled fewer than min_days_enrolled days are not flagged ('not_measured').
-- * coursework and assessment: NULL columns until course grades, LMS submissions and assessment
--   results are conformed; each will be one join on student_key.
with student_attendance as (
    select * from {{ ref('mart_student_attendance') }} where reporting_level = 'district'
),

students as (
    select student_key, current_school_key, grade_level from {{ ref('dim_student') }}
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
        -- Coursework and assessment indicators: filled when their facts are conformed.
        cast(null as integer) as failing_course_grades,
        cast(null as integer) as missing_assignments,
        cast(null as boolean) as is_coursework_flagged,
        cast(null as integer) as assessments_below_proficient,
        cast(null as boolean) as is_assessment_flagged,
        cast(null as varchar) as coursework_thresholds_fired,
        cast(null as varchar) as assessment_thresholds_fired
    from indicators
    left join students on indicators.student_key = students.student_key
)

select * from final

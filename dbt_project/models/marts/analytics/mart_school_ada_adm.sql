-- Average daily attendance and membership per school, year to date:
-- ADA = student-days present / instructional days; ADM = student-days enrolled / instructional
-- days (both over the school's instructional days through the attendance through date).
with daily as (
    select * from {{ ref('mart_school_daily_membership') }}
),

schools as (
    select school_key, school_name from {{ ref('dim_school') }}
),

final as (
    select
        daily.district_code,
        daily.school_key,
        schools.school_name,
        min(daily.calendar_date) as first_instructional_day,
        max(daily.calendar_date) as through_date,
        count(*) as instructional_days,
        sum(daily.students_enrolled) as student_days_enrolled,
        sum(daily.student_days_present) as student_days_present,
        sum(daily.student_days_present) / count(*) as average_daily_attendance,
        sum(daily.students_enrolled) * 1.0 / count(*) as average_daily_membership,
        case when sum(daily.students_enrolled) > 0
            then sum(daily.student_days_present) / sum(daily.students_enrolled) end as attendance_rate
    from daily
    inner join schools on daily.school_key = schools.school_key
    group by daily.district_code, daily.school_key, schools.school_name
)

select * from final

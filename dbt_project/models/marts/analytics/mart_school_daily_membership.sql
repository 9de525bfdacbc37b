-- Membership and attendance per school per instructional day, year to date: the daily figures
-- behind ADA and ADM (mart_school_ada_adm).
with daily_attendance as (
    select * from {{ ref('fct_student_daily_attendance') }}
),

calendar as (
    select * from {{ ref('dim_school_calendar') }} where is_instructional_day
),

attendance_events as (
    select * from {{ ref('stg_sis_attendance__daily_attendance') }}
),

through as (
    {{ attendance_through_date('attendance_events', 'attendance_date') }}
),

daily as (
    select
        school_key,
        calendar_date,
        count(*) as students_enrolled,
        sum(present_fraction) as student_days_present,
        sum(absent_fraction) as student_days_absent
    from daily_attendance
    group by school_key, calendar_date
),

final as (
    select
        {{ surrogate_key(['calendar.school_key', 'calendar.calendar_date']) }} as school_daily_membership_key,
        calendar.district_code,
        calendar.school_key,
        calendar.calendar_date,
        coalesce(daily.students_enrolled, 0) as students_enrolled,
        coalesce(daily.student_days_present, 0) as student_days_present,
        coalesce(daily.student_days_absent, 0) as student_days_absent
    from calendar
    inner join through on calendar.calendar_date <= through.through_date
    left join daily
        on daily.school_key = calendar.school_key
        and daily.calendar_date = calendar.calendar_date
)

select * from final

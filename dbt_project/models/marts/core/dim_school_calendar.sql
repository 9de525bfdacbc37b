with calendar_days as (
    select * from {{ ref('stg_sis_attendance__calendar_days') }}
),

schools as (
    select school_key, state_school_id from {{ ref('dim_school') }}
),

final as (
    select
        {{ surrogate_key(['calendar_days.district_code', 'schools.school_key', 'calendar_days.date_value']) }}
            as school_calendar_key,
        calendar_days.district_code,
        schools.school_key,
        calendar_days.date_value as calendar_date,
        calendar_days.in_session as is_instructional_day,
        calendar_days.day_type,
        calendar_days.note as day_note,
        calendar_days.source_ref
    from calendar_days
    inner join schools on calendar_days.school_id = schools.state_school_id
)

select * from final

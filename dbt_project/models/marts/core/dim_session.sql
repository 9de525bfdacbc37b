-- Terms and grading periods as the SIS sends them (OneRoster academicSessions).
with sessions as (
    select * from {{ ref('int_sis__academic_sessions') }}
),

final as (
    select
        {{ surrogate_key(['sessions.district_code', "'sis'", 'sessions.session_sourced_id']) }} as session_key,
        sessions.district_code,
        sessions.session_sourced_id as sis_session_id,
        sessions.session_title,
        sessions.session_type,
        sessions.session_type in ('gradingPeriod', 'term') as is_grading_period,
        sessions.start_date,
        sessions.end_date,
        sessions.school_year,
        case when sessions.parent_session_sourced_id is not null then
            {{ surrogate_key(['sessions.district_code', "'sis'", 'sessions.parent_session_sourced_id']) }}
        end as parent_session_key,
        sessions.source_ref
    from sessions
)

select * from final

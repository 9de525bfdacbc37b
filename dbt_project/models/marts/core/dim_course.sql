with courses as (
    select * from {{ ref('int_sis__courses') }}
),

sessions as (
    select * from {{ ref('int_sis__academic_sessions') }}
),

schools as (
    select school_key, sis_school_id from {{ ref('dim_school') }}
),

final as (
    select
        {{ surrogate_key(['courses.district_code', "'sis'", 'courses.course_sourced_id']) }} as course_key,
        courses.district_code,
        courses.course_sourced_id as sis_course_id,
        courses.course_code,
        courses.course_title,
        courses.grade_levels,
        courses.subjects,
        schools.school_key,
        sessions.school_year,
        courses.source_ref
    from courses
    left join schools on courses.org_sourced_id = schools.sis_school_id
    left join sessions on courses.school_year_session_sourced_id = sessions.session_sourced_id
)

select * from final

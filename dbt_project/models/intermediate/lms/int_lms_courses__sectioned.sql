-- Every LMS course (Canvas and Google Classroom) with the SIS section it belongs to, where known:
-- * Canvas: the SIS section id its section(s) carry (sis_section_id), when they name exactly
--   one; else the course's own sis_course_id when it is a SIS section id (the district's Canvas
--   sync names each course after its section).
-- * Google Classroom carries no SIS id: a course is the SIS section with the same title, the
--   period its "Period N" section names, and the owner as primary teacher (the owner linked
--   through staff_identity_xwalk), when exactly one section matches. Unmatched: NULL.
with canvas_courses as (
    select * from {{ ref('stg_canvas__courses') }}
),

canvas_sections as (
    select * from {{ ref('stg_canvas__sections') }}
),

google_courses as (
    select * from {{ ref('stg_google_classroom__courses') }}
),

staff_xwalk as (
    select * from {{ ref('staff_identity_xwalk') }}
),

sections as (
    select * from {{ ref('dim_section') }}
),

canvas_course_sections as (
    select
        canvas_course_id,
        min(sis_section_id) as sis_section_id
    from canvas_sections
    where sis_section_id is not null
    group by canvas_course_id
    having count(distinct sis_section_id) = 1
),

canvas_conformed as (
    select
        canvas_courses.district_code,
        'canvas' as lms,
        canvas_courses.canvas_course_id as lms_course_id,
        canvas_courses.course_name as lms_course_name,
        coalesce(canvas_course_sections.sis_section_id, canvas_courses.sis_course_id) as sis_section_id
    from canvas_courses
    left join canvas_course_sections on canvas_courses.canvas_course_id = canvas_course_sections.canvas_course_id
),

google_matches as (
    select
        google_courses.google_course_id,
        min(sections.sis_section_id) as sis_section_id
    from google_courses
    inner join staff_xwalk
        on staff_xwalk.source_system = 'google_classroom'
        and staff_xwalk.source_id = google_courses.owner_user_id
        and staff_xwalk.district_code = google_courses.district_code
    inner join sections
        on sections.section_title = google_courses.course_name
        and sections.primary_teacher_staff_key = staff_xwalk.staff_key
        and {{ dbt.concat(["'Period '", 'sections.periods']) }} = google_courses.section
    group by google_courses.google_course_id
    having count(distinct sections.sis_section_id) = 1
),

google_conformed as (
    select
        google_courses.district_code,
        'google_classroom' as lms,
        google_courses.google_course_id as lms_course_id,
        google_courses.course_name as lms_course_name,
        google_matches.sis_section_id
    from google_courses
    left join google_matches on google_courses.google_course_id = google_matches.google_course_id
),

courses as (
    select * from canvas_conformed
    union all
    select * from google_conformed
),

final as (
    select
        courses.district_code,
        courses.lms,
        courses.lms_course_id,
        courses.lms_course_name,
        sections.sis_section_id,
        sections.section_key,
        sections.school_key
    from courses
    left join sections
        on courses.sis_section_id = sections.sis_section_id
        and courses.district_code = sections.district_code
)

select * from final

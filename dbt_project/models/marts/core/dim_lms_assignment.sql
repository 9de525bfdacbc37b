-- Every LMS assignment: Canvas assignments and Google Classroom courseWork, with the SIS section
-- (and school) of its LMS course where known (int_lms_courses__sectioned). Google gives a due
-- date without a time zone; Canvas a due time in UTC.
with canvas_assignments as (
    select * from {{ ref('stg_canvas__assignments') }}
),

google_course_work as (
    select * from {{ ref('stg_google_classroom__course_work') }}
),

lms_courses as (
    select * from {{ ref('int_lms_courses__sectioned') }}
),

canvas_conformed as (
    select
        district_code,
        'canvas' as lms,
        canvas_assignment_id as lms_assignment_id,
        canvas_course_id as lms_course_id,
        assignment_name as assignment_title,
        position,
        points_possible,
        cast(due_at as date) as due_date,
        due_at,
        workflow_state as source_state,
        created_at,
        source_ref,
        batch_id
    from canvas_assignments
),

google_conformed as (
    select
        district_code,
        'google_classroom' as lms,
        google_course_work_id as lms_assignment_id,
        google_course_id as lms_course_id,
        title as assignment_title,
        cast(null as integer) as position,
        max_points as points_possible,
        case when due_year is not null then cast({{ dbt.concat([
            dbt.cast('due_year', dbt.type_string()), "'-'",
            "lpad(" ~ dbt.cast('due_month', dbt.type_string()) ~ ", 2, '0')", "'-'",
            "lpad(" ~ dbt.cast('due_day', dbt.type_string()) ~ ", 2, '0')",
        ]) }} as date) end as due_date,
        cast(null as {{ type_timestamp_tz() }}) as due_at,
        state as source_state,
        created_at,
        source_ref,
        batch_id
    from google_course_work
),

assignments as (
    select * from canvas_conformed
    union all
    select * from google_conformed
),

final as (
    select
        {{ surrogate_key(['assignments.district_code', 'assignments.lms', 'assignments.lms_assignment_id']) }}
            as lms_assignment_key,
        assignments.district_code,
        assignments.lms,
        assignments.lms_assignment_id,
        assignments.lms_course_id,
        lms_courses.lms_course_name,
        lms_courses.sis_section_id,
        lms_courses.section_key,
        lms_courses.school_key,
        assignments.assignment_title,
        assignments.position,
        assignments.points_possible,
        assignments.due_date,
        assignments.due_at,
        assignments.source_state,
        assignments.created_at,
        assignments.source_ref,
        assignments.batch_id
    from assignments
    left join lms_courses
        on assignments.lms = lms_courses.lms
        and assignments.lms_course_id = lms_courses.lms_course_id
        and assignments.district_code = lms_courses.district_code
)

select * from final

with classes as (
    select * from {{ ref('int_sis__classes') }}
),

enrollments as (
    select * from {{ ref('int_sis__enrollments') }}
),

courses as (
    select course_key, sis_course_id from {{ ref('dim_course') }}
),

schools as (
    select school_key, sis_school_id from {{ ref('dim_school') }}
),

-- The section's teacher of record: its primary teacher (the earliest, should there be several).
primary_teachers as (
    select
        class_sourced_id,
        min(user_sourced_id) as teacher_sourced_id
    from enrollments
    where role = 'teacher' and is_primary
    group by class_sourced_id
),

final as (
    select
        {{ surrogate_key(['classes.district_code', "'sis'", 'classes.class_sourced_id']) }} as section_key,
        classes.district_code,
        classes.class_sourced_id as sis_section_id,
        classes.class_code as section_code,
        classes.class_title as section_title,
        classes.class_type as section_type,
        classes.grade_levels,
        classes.subjects,
        classes.subject_codes,
        classes.term_sourced_ids,
        classes.location,
        classes.periods,
        courses.course_key,
        schools.school_key,
        case when primary_teachers.teacher_sourced_id is not null then
            {{ surrogate_key(['classes.district_code', "'sis'", 'primary_teachers.teacher_sourced_id']) }}
        end as primary_teacher_staff_key,
        classes.source_ref
    from classes
    left join courses on classes.course_sourced_id = courses.sis_course_id
    left join schools on classes.school_sourced_id = schools.sis_school_id
    left join primary_teachers on classes.class_sourced_id = primary_teachers.class_sourced_id
)

select * from final

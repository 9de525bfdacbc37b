with enrollments as (
    select * from {{ ref('int_sis__enrollments') }}
),

students as (
    select student_key, sis_student_id from {{ ref('dim_student') }}
),

sections as (
    select section_key, sis_section_id, school_key from {{ ref('dim_section') }}
),

final as (
    select
        {{ surrogate_key(['enrollments.district_code', "'sis'", 'enrollments.enrollment_sourced_id']) }}
            as section_enrollment_key,
        enrollments.district_code,
        students.student_key,
        sections.section_key,
        sections.school_key,
        enrollments.begin_date,
        enrollments.end_date,
        enrollments.end_date is null as is_current,
        enrollments.enrollment_sourced_id as sis_enrollment_id,
        enrollments.source_ref
    from enrollments
    inner join students on enrollments.user_sourced_id = students.sis_student_id
    inner join sections on enrollments.class_sourced_id = sections.sis_section_id
    where enrollments.role = 'student'
)

select * from final

-- Staff assigned to sections: the OneRoster enrolments of non-student roles.
with enrollments as (
    select * from {{ ref('int_sis__enrollments') }}
),

staff as (
    select staff_key, sis_staff_id from {{ ref('dim_staff') }}
),

sections as (
    select section_key, sis_section_id, school_key from {{ ref('dim_section') }}
),

final as (
    select
        {{ surrogate_key(['enrollments.district_code', "'sis'", 'enrollments.enrollment_sourced_id']) }}
            as staff_section_assignment_key,
        enrollments.district_code,
        staff.staff_key,
        sections.section_key,
        sections.school_key,
        enrollments.role as classroom_role,
        coalesce(enrollments.is_primary, false) as is_primary,
        enrollments.begin_date,
        enrollments.end_date,
        enrollments.end_date is null as is_current,
        enrollments.enrollment_sourced_id as sis_enrollment_id,
        enrollments.source_ref
    from enrollments
    inner join staff on enrollments.user_sourced_id = staff.sis_staff_id
    inner join sections on enrollments.class_sourced_id = sections.sis_section_id
    where enrollments.role <> 'student'
)

select * from final

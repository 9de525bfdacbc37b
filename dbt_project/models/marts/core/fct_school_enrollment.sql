with roles as (
    select * from {{ ref('int_sis__roles') }}
),

students as (
    select student_key, sis_student_id from {{ ref('dim_student') }}
),

schools as (
    select school_key, sis_school_id from {{ ref('dim_school') }}
),

student_school_roles as (
    select roles.*
    from roles
    inner join schools on roles.org_sourced_id = schools.sis_school_id
    where roles.role = 'student'
),

final as (
    select
        {{ surrogate_key(['student_school_roles.district_code', "'sis'", 'student_school_roles.role_sourced_id']) }}
            as school_enrollment_key,
        student_school_roles.district_code,
        students.student_key,
        schools.school_key,
        -- A role without a begin date started with the school year (the district config's start).
        coalesce(student_school_roles.begin_date, cast('{{ var("school_year_start") }}' as date)) as entry_date,
        student_school_roles.end_date as exit_date,
        student_school_roles.end_date is null as is_current,
        student_school_roles.role_type = 'primary' as is_primary_school,
        student_school_roles.role_sourced_id as sis_role_id,
        student_school_roles.source_ref
    from student_school_roles
    inner join students on student_school_roles.user_sourced_id = students.sis_student_id
    inner join schools on student_school_roles.org_sourced_id = schools.sis_school_id
)

select * from final

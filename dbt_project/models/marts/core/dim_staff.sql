with users as (
    select * from {{ ref('int_sis__users') }}
),

roles as (
    select * from {{ ref('int_sis__roles') }}
),

schools as (
    select school_key, sis_school_id from {{ ref('dim_school') }}
),

-- Staff are users holding a non-student, non-family role; their primary role names their job.
staff_roles as (
    select
        user_sourced_id,
        min(role) as staff_role
    from roles
    where role not in ('student', 'parent', 'guardian', 'relative')
        and role_type = 'primary'
    group by user_sourced_id
),

final as (
    select
        {{ surrogate_key(['users.district_code', "'sis'", 'users.user_sourced_id']) }} as staff_key,
        users.district_code,
        users.user_sourced_id as sis_staff_id,
        users.local_identifier as local_staff_id,
        users.first_name,
        users.middle_name,
        users.last_name,
        users.username,
        users.email,
        staff_roles.staff_role,
        schools.school_key as primary_school_key,
        users.is_enabled,
        users.source_ref
    from users
    inner join staff_roles on users.user_sourced_id = staff_roles.user_sourced_id
    left join schools on users.primary_org_sourced_id = schools.sis_school_id
)

select * from final

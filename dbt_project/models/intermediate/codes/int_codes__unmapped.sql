-- Vendor codes the seeds do not map, wherever a staging model's codes are mapped to CEDS /
-- Ed-Fi: OneRoster sex (xwalk_sex) and grade level (xwalk_grade_level), SIS attendance codes
-- (xwalk_attendance_code). Declared vendor files map their codes in the connector, which rejects
-- an unknown one (stg_landing__rejects, rule unmapped_code). One row per source, entity, field
-- and code, with how many current rows carry it.
with demographics as (
    select * from {{ ref('int_sis__demographics') }}
),

users as (
    select * from {{ ref('int_sis__users') }}
),

student_roles as (
    select distinct user_sourced_id from {{ ref('int_sis__roles') }} where role = 'student'
),

attendance as (
    select * from {{ ref('stg_sis_attendance__daily_attendance') }}
),

sex_codes as (
    select source_code from {{ ref('xwalk_sex') }} where source_system = 'oneroster'
),

grade_codes as (
    select source_code from {{ ref('xwalk_grade_level') }} where source_system = 'oneroster'
),

attendance_codes as (
    select source_code from {{ ref('xwalk_attendance_code') }} where source_system = 'sis_attendance'
),

found as (
    select district_code, sis_channel as source_system, 'demographics' as entity, 'sex' as field,
        'xwalk_sex' as crosswalk, sex as source_code
    from demographics
    where sex is not null and sex not in (select source_code from sex_codes)
    union all
    select users.district_code, users.sis_channel, 'users', 'grades', 'xwalk_grade_level', users.grade_levels
    from users
    inner join student_roles on users.user_sourced_id = student_roles.user_sourced_id
    where users.grade_levels is not null and users.grade_levels not in (select source_code from grade_codes)
    union all
    select district_code, 'sis_attendance', 'daily_attendance', 'att_code', 'xwalk_attendance_code', attendance_code
    from attendance
    where attendance_code not in (select source_code from attendance_codes)
),

final as (
    select
        district_code,
        source_system,
        entity,
        field,
        crosswalk,
        source_code,
        count(*) as rows_with_code
    from found
    group by district_code, source_system, entity, field, crosswalk, source_code
)

select * from final

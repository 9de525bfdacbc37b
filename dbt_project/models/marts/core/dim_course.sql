with courses as (
    select * from {{ ref('int_sis__courses') }}
),

sessions as (
    select * from {{ ref('int_sis__academic_sessions') }}
),

orgs as (
    select district_code, org_sourced_id, org_type, parent_org_sourced_id from {{ ref('int_sis__orgs') }}
),

schools as (
    select district_code, school_key, sis_school_id from {{ ref('dim_school') }}
),

-- The org that owns each course, as OneRoster allows it: a school, a department (which belongs
-- to its parent school), or the district itself (a district-wide course catalog, as rostering
-- hubs export it). A district course has no school: its classes, each at a school, say where
-- it is taught.
owners as (
    select
        courses.district_code,
        courses.course_sourced_id,
        owner_orgs.org_type as owner_org_type,
        case
            when owner_orgs.org_type = 'department' then owner_orgs.parent_org_sourced_id
            else courses.org_sourced_id
        end as school_org_sourced_id
    from courses
    left join orgs as owner_orgs
        on courses.district_code = owner_orgs.district_code
        and courses.org_sourced_id = owner_orgs.org_sourced_id
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
        courses.subject_codes,
        schools.school_key,
        courses.org_sourced_id as sis_org_id,
        owners.owner_org_type,
        coalesce(owners.owner_org_type = 'district', false) as is_district_course,
        sessions.school_year,
        courses.source_ref
    from courses
    inner join owners
        on courses.district_code = owners.district_code
        and courses.course_sourced_id = owners.course_sourced_id
    left join schools
        on owners.district_code = schools.district_code
        and owners.school_org_sourced_id = schools.sis_school_id
    left join sessions on courses.school_year_session_sourced_id = sessions.session_sourced_id
)

select * from final

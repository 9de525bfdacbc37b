with orgs as (
    select * from {{ ref('int_sis__orgs') }}
),

schools as (
    select * from orgs where org_type = 'school'
),

districts as (
    select org_sourced_id, org_name, org_identifier from orgs where org_type = 'district'
),

final as (
    select
        {{ surrogate_key(['schools.district_code', "'sis'", 'schools.org_sourced_id']) }} as school_key,
        schools.district_code,
        schools.org_sourced_id as sis_school_id,
        schools.org_identifier as state_school_id,
        schools.org_name as school_name,
        districts.org_name as district_name,
        districts.org_identifier as lea_id,
        schools.source_ref
    from schools
    left join districts on schools.parent_org_sourced_id = districts.org_sourced_id
)

select * from final

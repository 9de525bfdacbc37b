-- The district (tenant) itself: its SIS org row, named by the district config where the SIS
-- sends none (a SIS export always names its district, the config is the fallback).
with orgs as (
    select * from {{ ref('int_sis__orgs') }}
),

sis_districts as (
    select
        district_code,
        min(org_sourced_id) as sis_district_id,
        min(org_name) as org_name,
        min(org_identifier) as org_identifier,
        min(source_ref) as source_ref
    from orgs
    where org_type = 'district'
    group by district_code
),

configured as (
    select
        cast('{{ var("district_code") }}' as {{ dbt.type_string() }}) as district_code,
        {{ sql_text(var('district_name')) }} as district_name,
        {{ sql_text(var('district_state')) }} as state_code,
        {{ sql_text(var('district_lea_id')) }} as lea_id
),

final as (
    select
        {{ surrogate_key(['configured.district_code']) }} as district_key,
        configured.district_code,
        coalesce(sis_districts.org_name, configured.district_name) as district_name,
        configured.state_code,
        coalesce(sis_districts.org_identifier, configured.lea_id) as lea_id,
        sis_districts.sis_district_id,
        sis_districts.source_ref
    from configured
    left join sis_districts on configured.district_code = sis_districts.district_code
)

select * from final

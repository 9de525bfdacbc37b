-- Data quality per source system and landed entity: rows landed and rejected over every
-- committed batch, the last successful extract, and unmapped codes. A batch counts once its
-- _batches record exists (the commit point); a file refused as a whole lands no batch and shows
-- in the landing step's failure, not here.
-- Every source system the staging layer reads (macro landed_source_systems) has rows: one that
-- has delivered nothing yet shows as entity '(nothing landed)' with zero rows.
-- Unresolved identities come from the identity crosswalks: per source system (other than the SIS,
-- the spine every other record is linked to), current records linked to no person, on rows of
-- their own, entity 'student_identities' and 'staff_identities'.
{% set systems = landed_source_systems() %}
with batch_entities as (
    select * from {{ ref('stg_landing__batch_entities') }}
),

rejects as (
    select * from {{ ref('stg_landing__rejects') }}
),

unmapped as (
    select * from {{ ref('int_codes__unmapped') }}
),

student_xwalk as (
    select * from {{ ref('student_identity_xwalk') }}
),

staff_xwalk as (
    select * from {{ ref('staff_identity_xwalk') }}
),

configured_systems as (
    {% for system in systems %}
    select '{{ system }}' as source_system
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

identities as (
    select district_code, source_system, 'student_identities' as entity, count(*) as identity_records,
        sum(case when is_linked then 0 else 1 end) as unresolved_identities
    from student_xwalk
    where is_current and source_system <> 'sis'
    group by district_code, source_system
    union all
    select district_code, source_system, 'staff_identities' as entity, count(*) as identity_records,
        sum(case when is_linked then 0 else 1 end) as unresolved_identities
    from staff_xwalk
    where is_current and source_system <> 'sis'
    group by district_code, source_system
),

landed as (
    select
        district_code,
        source_system,
        entity,
        count(distinct batch_id) as batches,
        sum(coalesce(rows_landed, 0)) as rows_landed,
        max(extracted_at) as last_successful_extract_at
    from batch_entities
    group by district_code, source_system, entity
),

rejected as (
    select district_code, source_system, entity, count(*) as rows_rejected
    from rejects
    group by district_code, source_system, entity
),

unmapped_codes as (
    select
        district_code,
        source_system,
        entity,
        count(*) as unmapped_codes,
        sum(rows_with_code) as rows_with_unmapped_code
    from unmapped
    group by district_code, source_system, entity
),

reported as (
    select district_code, source_system, entity from landed
    union
    select district_code, source_system, entity from rejected
    union
    select district_code, source_system, entity from unmapped_codes
    union
    select district_code, source_system, entity from identities
),

silent_systems as (
    select
        '{{ var("district_code") }}' as district_code,
        configured_systems.source_system,
        '(nothing landed)' as entity
    from configured_systems
    where configured_systems.source_system not in (select source_system from reported)
),

source_entities as (
    select * from reported
    union
    select * from silent_systems
),

final as (
    select
        {{ surrogate_key(['source_entities.district_code', 'source_entities.source_system', 'source_entities.entity']) }}
            as data_quality_key,
        source_entities.district_code,
        source_entities.source_system,
        source_entities.entity,
        coalesce(landed.batches, 0) as batches,
        coalesce(landed.rows_landed, 0) as rows_landed,
        coalesce(rejected.rows_rejected, 0) as rows_rejected,
        case when coalesce(landed.rows_landed, 0) + coalesce(rejected.rows_rejected, 0) > 0 then
            coalesce(rejected.rows_rejected, 0) * 1.0
            / (coalesce(landed.rows_landed, 0) + coalesce(rejected.rows_rejected, 0))
        end as reject_rate,
        landed.last_successful_extract_at,
        coalesce(unmapped_codes.unmapped_codes, 0) as unmapped_codes,
        coalesce(unmapped_codes.rows_with_unmapped_code, 0) as rows_with_unmapped_code,
        identities.identity_records,
        identities.unresolved_identities
    from source_entities
    left join landed
        on source_entities.district_code = landed.district_code
        and source_entities.source_system = landed.source_system
        and source_entities.entity = landed.entity
    left join rejected
        on source_entities.district_code = rejected.district_code
        and source_entities.source_system = rejected.source_system
        and source_entities.entity = rejected.entity
    left join unmapped_codes
        on source_entities.district_code = unmapped_codes.district_code
        and source_entities.source_system = unmapped_codes.source_system
        and source_entities.entity = unmapped_codes.entity
    left join identities
        on source_entities.district_code = identities.district_code
        and source_entities.source_system = identities.source_system
        and source_entities.entity = identities.entity
)

select * from final

-- Data quality per source system and landed entity: rows landed and rejected over every
-- committed batch, the last successful extract, and unmapped codes. A batch counts once its
-- _batches record exists (the commit point); a file refused as a whole lands no batch and shows
-- in the landing step's failure, not here.
with batch_entities as (
    select * from {{ ref('stg_landing__batch_entities') }}
),

rejects as (
    select * from {{ ref('stg_landing__rejects') }}
),

unmapped as (
    select * from {{ ref('int_codes__unmapped') }}
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

source_entities as (
    select district_code, source_system, entity from landed
    union
    select district_code, source_system, entity from rejected
    union
    select district_code, source_system, entity from unmapped_codes
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
        -- Filled by identity resolution (records of this entity matched to no student).
        cast(null as bigint) as unresolved_identities
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
)

select * from final

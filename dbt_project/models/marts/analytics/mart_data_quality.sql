-- Data quality per source system and landed entity: rows landed and rejected over every
-- committed batch, the last successful extract, and unmapped codes. A batch counts once its
-- _batches record exists (the commit point).
-- Every source system the staging layer reads (macro landed_source_systems) has rows: one that
-- has delivered nothing yet shows as entity '(nothing landed)' with zero rows.
-- Each row also carries its source's status as of this build: whether the district configures
-- and requires it, the age of its newest landed batch against its freshness limit, and its latest
-- refusal (a file refused as a whole, or a walk that failed) when that came after the newest
-- batch: the source is then quarantined, and the warehouse holds its last good data.
-- Unresolved identities come from the identity crosswalks: per source system (other than the SIS,
-- the spine every other record is linked to), current records linked to no person, on rows of
-- their own, entity 'student_identities' and 'staff_identities'.
{% set systems = landed_source_systems() %}
with batch_entities as (
    select * from {{ ref('stg_landing__batch_entities') }}
),

refusals as (
    select * from {{ ref('stg_landing__refusals') }}
),

configured_sources as (
    {{ configured_source_rows() }}
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

source_batches as (
    select source_system, max(extracted_at) as newest_batch_at
    from batch_entities
    group by source_system
),

ranked_refusals as (
    select
        refusals.*,
        row_number() over (partition by source_system order by refused_at desc) as refusal_rank,
        count(*) over (partition by source_system) as refusals
    from refusals
),

source_status as (
    select
        configured_sources.source_system,
        configured_sources.system_name,
        configured_sources.is_enabled,
        configured_sources.is_required,
        configured_sources.freshness_limit_hours,
        source_batches.newest_batch_at,
        {{ dbt.datediff('source_batches.newest_batch_at', dbt.current_timestamp(), 'second') }} / 3600.0
            as newest_batch_age_hours,
        coalesce(ranked_refusals.refusals, 0) as refusals,
        ranked_refusals.refused_at as last_refusal_at,
        ranked_refusals.subject as last_refusal_subject,
        ranked_refusals.reason as last_refusal_reason
    from configured_sources
    left join source_batches on configured_sources.source_system = source_batches.source_system
    left join ranked_refusals
        on configured_sources.source_system = ranked_refusals.source_system
        and ranked_refusals.refusal_rank = 1
),

source_freshness as (
    select
        source_status.*,
        coalesce(
            source_status.freshness_limit_hours is not null
            and source_status.newest_batch_age_hours > source_status.freshness_limit_hours,
            false
        ) as is_stale,
        case
            when not source_status.is_enabled then 'not_configured'
            when source_status.last_refusal_at is not null
                and (source_status.newest_batch_at is null or source_status.last_refusal_at > source_status.newest_batch_at)
                then 'quarantined'
            when source_status.newest_batch_at is null then 'awaiting_first_delivery'
            when source_status.freshness_limit_hours is not null
                and source_status.newest_batch_age_hours > source_status.freshness_limit_hours then 'stale'
            else 'current'
        end as source_status
    from source_status
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
        configured_sources.source_system,
        '(nothing landed)' as entity
    from configured_sources
    where configured_sources.source_system not in (select source_system from reported)
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
        identities.unresolved_identities,
        source_freshness.source_status,
        source_freshness.system_name,
        source_freshness.is_enabled,
        source_freshness.is_required,
        source_freshness.newest_batch_at as source_newest_batch_at,
        source_freshness.newest_batch_age_hours as source_newest_batch_age_hours,
        source_freshness.freshness_limit_hours,
        source_freshness.is_stale,
        source_freshness.refusals as source_refusals,
        source_freshness.last_refusal_at,
        source_freshness.last_refusal_subject,
        source_freshness.last_refusal_reason
    from source_entities
    inner join source_freshness on source_entities.source_system = source_freshness.source_system
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

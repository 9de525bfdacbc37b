-- The newest identity run's crosswalk: every staff record any source ever sent, with the
-- district person key it resolved to (null: queued for review or unlinked).
with landed as (
    select * from {{ current_snapshot_records('identity', 'staff_xwalk') }} as newest
),

final as (
    select
        _district_code as district_code,
        source_system,
        source_id,
        person_key,
        -- The person key is the SIS staff member's sourcedId; dim_staff keys that same natural key.
        case when person_key is not null
            then {{ surrogate_key(['_district_code', "'sis'", 'person_key']) }}
        end as staff_key,
        method,
        cast(score as double) as match_score,
        person_key is not null as is_linked,
        cast(first_seen_at as timestamp) as first_seen_at,
        cast(last_seen_at as timestamp) as last_seen_at,
        is_current = 'true' as is_current,
        _batch_id as identity_batch_id
    from landed
)

select * from final

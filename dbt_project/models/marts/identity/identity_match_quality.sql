-- The newest identity run's figures per person type and source system. Precision and recall
-- are measured only against generator truth (the demo and tests); a real district has none.
with landed as (
    select * from {{ current_snapshot_records('identity', 'match_quality') }} as newest
),

final as (
    select
        _district_code as district_code,
        person_type,
        source_system,
        cast(records as integer) as records,
        cast(linked as integer) as linked,
        cast(queued as integer) as queued,
        cast(unlinked as integer) as unlinked,
        cast(linked_probabilistic as integer) as linked_probabilistic,
        cast(linked as double) / nullif(cast(records as integer), 0) as match_rate,
        cast({{ adapter.quote('precision') }} as double) as precision_against_truth,
        cast(recall as double) as recall_against_truth,
        cast(twin_merges as integer) as twin_merges,
        _batch_id as identity_batch_id,
        _extracted_at as resolved_at
    from landed
)

select * from final

-- Every delivery (a whole file) or API walk that landed nothing, from every source system, with
-- the reason: what quarantines a source while the rest of the warehouse is released.
with refusals as (
    {{ union_of_landed_sources('refusals') }}
),

final as (
    select
        district_code,
        source_system,
        kind as refusal_kind,
        entity,
        subject,
        fingerprint_sha256,
        reason,
        refused_at
    from refusals
)

select * from final

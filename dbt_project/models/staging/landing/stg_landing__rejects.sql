-- Every row any connector refused, from every source system and batch, with the rule it broke
-- and where it was (file and line). A rejected row stays visible after later batches land.
with rejects as (
    {{ union_of_landed_sources('rejects') }}
),

renamed as (
    select
        _district_code as district_code,
        _source_system as source_system,
        _batch_id as batch_id,
        _extracted_at as extracted_at,
        entity,
        rule,
        field,
        detail,
        raw_record,
        _source_ref as source_ref
    from rejects
)

select * from renamed

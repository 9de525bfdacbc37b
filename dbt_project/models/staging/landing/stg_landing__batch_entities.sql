-- Every committed landing batch (a _batches record: the commit point) of every source system,
-- one row per entity it landed, with the rows landed (from the record's rows_landed JSON).
with batches as (
    {{ union_of_landed_sources('batches') }}
),

entities as (
    select
        batches.*,
        {{ json_object_keys('batches.rows_landed') }} as entity
    from batches
),

final as (
    select
        district_code,
        source_system,
        batch_id,
        entity,
        source_name,
        extracted_at,
        cast({{ json_text_at_key('rows_landed', 'entity') }} as bigint) as rows_landed,
        rows_rejected as batch_rows_rejected
    from entities
)

select * from final

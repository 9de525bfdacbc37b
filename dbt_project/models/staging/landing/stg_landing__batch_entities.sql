-- Every committed landing batch (a _batches record: the commit point) of every source system,
-- one row per entity it landed, with the rows landed (from the record's rows_landed JSON).
{% set systems = landed_source_systems() %}

with batches as (
    {% for system in systems %}
    select * from {{ source(system, 'batches') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
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

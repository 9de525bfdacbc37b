-- Rows the SIS deleted: a delta row with status 'tobedeleted' (the newest version of its
-- sourcedId) leaves the entity's staging model and is listed here instead, so no row vanishes
-- unseen. A newer bulk batch replaces the entity's state, and with it these.
{%- set entities = [
    'orgs', 'academic_sessions', 'courses', 'classes', 'users', 'roles', 'enrollments', 'demographics',
    'user_profiles',
] %}

with
{% for entity in entities %}
deleted_{{ entity }} as (
    select
        _district_code as district_code,
        '{{ entity }}' as entity,
        {{ adapter.quote('sourcedId') }} as sourced_id,
        {{ adapter.quote('dateLastModified') }} as date_last_modified,
        _batch_id as batch_id,
        _source_ref as source_ref
    from {{ oneroster_latest_versions('oneroster_csv', entity) }} as latest
    where status = 'tobedeleted'
),
{% endfor %}

final as (
    {% for entity in entities %}
    select * from deleted_{{ entity }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final

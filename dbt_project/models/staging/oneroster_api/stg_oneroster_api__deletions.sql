-- Records the SIS deleted: served with status tobedeleted (landed as tombstones) and still the
-- latest version of their sourcedId. They leave the entity's staging model and are listed here,
-- so no record vanishes unseen; a newer full walk replaces the state, and with it these.
{%- set entities = ['orgs', 'academic_sessions', 'courses', 'classes', 'users', 'enrollments', 'demographics'] %}

with
{% for entity in entities %}
deleted_{{ entity }} as (
    select
        _district_code as district_code,
        '{{ entity }}' as entity,
        record_key as sourced_id,
        changed_at as date_last_modified,
        _batch_id as batch_id,
        _source_ref as source_ref
    from {{ api_deleted_records('oneroster_api', entity) }} as deleted
),
{% endfor %}

final as (
    {% for entity in entities %}
    select * from deleted_{{ entity }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final

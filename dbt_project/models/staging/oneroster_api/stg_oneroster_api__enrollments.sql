with landed as (
    select * from {{ api_current_records('oneroster_api', 'enrollments') }} as current_records
),

renamed as (
    select
        _district_code as district_code,
        record_key as enrollment_sourced_id,
        {{ json_text('record_json', '$.class.sourcedId') }} as class_sourced_id,
        {{ json_text('record_json', '$.school.sourcedId') }} as school_sourced_id,
        {{ json_text('record_json', '$.user.sourcedId') }} as user_sourced_id,
        {{ json_text('record_json', '$.role') }} as role,
        {{ oneroster_bool(json_text('record_json', '$.primary')) }} as is_primary,
        cast({{ json_text('record_json', '$.beginDate') }} as date) as begin_date,
        cast({{ json_text('record_json', '$.endDate') }} as date) as end_date,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed

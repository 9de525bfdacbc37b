with landed as (
    select * from {{ api_current_records('oneroster_api', 'academic_sessions') }} as current_records
),

renamed as (
    select
        _district_code as district_code,
        record_key as session_sourced_id,
        {{ json_text('record_json', '$.title') }} as session_title,
        {{ json_text('record_json', '$.type') }} as session_type,
        cast({{ json_text('record_json', '$.startDate') }} as date) as start_date,
        cast({{ json_text('record_json', '$.endDate') }} as date) as end_date,
        {{ json_text('record_json', '$.parent.sourcedId') }} as parent_session_sourced_id,
        cast({{ json_text('record_json', '$.schoolYear') }} as integer) as school_year,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed

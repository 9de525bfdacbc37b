with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'academic_sessions') }}
),

renamed as (
    select
        _district_code as district_code,
        {{ adapter.quote('sourcedId') }} as session_sourced_id,
        title as session_title,
        type as session_type,
        cast({{ adapter.quote('startDate') }} as date) as start_date,
        cast({{ adapter.quote('endDate') }} as date) as end_date,
        {{ adapter.quote('parentSourcedId') }} as parent_session_sourced_id,
        cast({{ adapter.quote('schoolYear') }} as integer) as school_year,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed

with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'enrollments') }}
),

renamed as (
    select
        _district_code as district_code,
        {{ adapter.quote('sourcedId') }} as enrollment_sourced_id,
        {{ adapter.quote('classSourcedId') }} as class_sourced_id,
        {{ adapter.quote('schoolSourcedId') }} as school_sourced_id,
        {{ adapter.quote('userSourcedId') }} as user_sourced_id,
        role,
        {{ oneroster_bool(adapter.quote('primary')) }} as is_primary,
        cast({{ adapter.quote('beginDate') }} as date) as begin_date,
        cast({{ adapter.quote('endDate') }} as date) as end_date,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed

with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'enrollments') }}
),

renamed as (
    select
        _district_code as district_code,
        "sourcedId" as enrollment_sourced_id,
        "classSourcedId" as class_sourced_id,
        "schoolSourcedId" as school_sourced_id,
        "userSourcedId" as user_sourced_id,
        role,
        {{ oneroster_bool('"primary"') }} as is_primary,
        cast("beginDate" as date) as begin_date,
        cast("endDate" as date) as end_date,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed

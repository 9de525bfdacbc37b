with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'classes') }}
),

renamed as (
    select
        _district_code as district_code,
        {{ adapter.quote('sourcedId') }} as class_sourced_id,
        title as class_title,
        grades as grade_levels,
        {{ adapter.quote('courseSourcedId') }} as course_sourced_id,
        {{ adapter.quote('classCode') }} as class_code,
        {{ adapter.quote('classType') }} as class_type,
        location,
        {{ adapter.quote('schoolSourcedId') }} as school_sourced_id,
        {{ adapter.quote('termSourcedIds') }} as term_sourced_ids,
        subjects,
        {{ adapter.quote('subjectCodes') }} as subject_codes,
        periods,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed

with landed as (
    {{ oneroster_current_rows('oneroster_csv', 'classes') }}
),

renamed as (
    select
        _district_code as district_code,
        "sourcedId" as class_sourced_id,
        title as class_title,
        grades as grade_levels,
        "courseSourcedId" as course_sourced_id,
        "classCode" as class_code,
        "classType" as class_type,
        location,
        "schoolSourcedId" as school_sourced_id,
        "termSourcedIds" as term_sourced_ids,
        subjects,
        "subjectCodes" as subject_codes,
        periods,
        _batch_id as batch_id,
        _source_ref as source_ref
    from landed
)

select * from renamed

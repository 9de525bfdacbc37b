-- Current students of google_classroom: the newest landed version of each record, tombstones removed
-- (macro api_current_records), typed from the record's JSON.
with records as (
    select * from {{ api_current_records('google_classroom', 'students') }} as records
),

typed as (
    select
        _district_code as district_code,
        record_key as course_student_key,
        {{ json_text('record_json', '$.courseId') }} as google_course_id,
        {{ json_text('record_json', '$.userId') }} as google_user_id,
        {{ json_text('record_json', '$.profile.emailAddress') }} as email,
        {{ json_text('record_json', '$.profile.name.givenName') }} as given_name,
        {{ json_text('record_json', '$.profile.name.familyName') }} as family_name,
        {{ json_text('record_json', '$.profile.name.fullName') }} as full_name,
        changed_at as source_changed_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
)

select * from typed

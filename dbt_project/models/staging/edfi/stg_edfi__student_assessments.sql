-- Ed-Fi student assessments: one row per student assessment administration (studentAssessmentIdentifier per assessment per student).
-- Descriptors reduced to their code value (after '#'); *_descriptor keeps the full URI.
with records as (
    select * from {{ api_current_records('edfi', 'student_assessments') }} as current_records
),

typed as (
    select
        _district_code as district_code,
        record_key as edfi_id,
        {{ json_text('record_json', '$.studentAssessmentIdentifier') }} as student_assessment_identifier,
        {{ json_text('record_json', '$.assessmentReference.assessmentIdentifier') }} as assessment_identifier,
        {{ json_text('record_json', '$.assessmentReference.namespace') }} as namespace,
        {{ json_text('record_json', '$.studentReference.studentUniqueId') }} as student_unique_id,
        -- a date-time (Ed-Fi): the day it names, in the zone it was written in
        cast(substring({{ json_text('record_json', '$.administrationDate') }}, 1, 10) as date) as administration_date,
        {{ json_text('record_json', '$.whenAssessedGradeLevelDescriptor') }} as when_assessed_grade_level_descriptor,
        {{ json_text('record_json', '$.scoreResults') }} as score_results_json,
        {{ json_text('record_json', '$.performanceLevels') }} as performance_levels_json,
        cast({{ json_text('record_json', '$._lastModifiedDate') }} as timestamp) as last_modified_at,
        _batch_id as batch_id,
        _source_ref as source_ref
    from records
),

final as (
    select
        typed.*,
        substring(when_assessed_grade_level_descriptor, position('#' in when_assessed_grade_level_descriptor) + 1) as when_assessed_grade_level
    from typed
)

select * from final

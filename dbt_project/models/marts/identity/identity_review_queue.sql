-- The newest identity run's review queue: each record the model could not decide, with up to
-- three candidates, their scores and the weight of evidence of each compared field (log2 odds:
-- positive for agreement, negative for disagreement), beside the values compared.
with queued as (
    select * from {{ current_snapshot_records('identity', 'review_queue') }} as newest
),

student_records as (
    select 'students' as person_type, * from {{ ref('int_person_records__students') }}
),

staff_records as (
    select 'staff' as person_type, * from {{ ref('int_person_records__staff') }}
),

person_records as (
    select * from student_records
    union all
    select * from staff_records
),

final as (
    select
        queued._district_code as district_code,
        queued.person_type,
        queued.source_system,
        queued.source_id,
        records.first_name,
        records.last_name,
        records.birth_date,
        records.grade_level,
        records.school_id,
        cast(queued.candidate_rank as integer) as candidate_rank,
        queued.candidate_person_key,
        candidates.first_name as candidate_first_name,
        candidates.last_name as candidate_last_name,
        candidates.birth_date as candidate_birth_date,
        candidates.grade_level as candidate_grade_level,
        candidates.school_id as candidate_school_id,
        cast(queued.match_probability as double) as match_probability,
        cast(queued.match_weight as double) as match_weight,
        cast(queued.first_name_weight as double) as first_name_weight,
        cast(queued.last_name_weight as double) as last_name_weight,
        cast(queued.birth_date_weight as double) as birth_date_weight,
        cast(queued.grade_weight as double) as grade_weight,
        cast(queued.school_weight as double) as school_weight,
        cast(queued.email_norm_weight as double) as email_weight,
        queued.reason,
        queued._batch_id as identity_batch_id
    from queued
    left join person_records as records
        on queued.person_type = records.person_type
        and queued.source_system = records.source_system
        and queued.source_id = records.source_id
    left join person_records as candidates
        on queued.person_type = candidates.person_type
        and candidates.source_system = 'sis'
        and queued.candidate_person_key = candidates.person_key
)

select * from final

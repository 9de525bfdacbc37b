-- When the SIS last sent each student's current record: the extraction time of the newer of the
-- batches that delivered the student's users row and demographics row. A snapshot stamps a
-- change with this time, so history follows the data's deliveries, not the build's clock.
with students as (
    select student_key, sis_student_id from {{ ref('dim_student') }}
),

users as (
    select user_sourced_id, batch_id from {{ ref('int_sis__users') }}
),

demographics as (
    select user_sourced_id, batch_id from {{ ref('int_sis__demographics') }}
),

batches as (
    -- In UTC without a zone: snapshot validity columns are plain timestamps.
    select distinct source_system, batch_id, {{ utc_wall_clock('extracted_at') }} as extracted_at
    from {{ ref('stg_landing__batch_entities') }}
    where source_system in ('oneroster_csv', 'oneroster_api')
),

final as (
    select
        students.student_key,
        greatest(
            coalesce(user_batches.extracted_at, demographic_batches.extracted_at),
            coalesce(demographic_batches.extracted_at, user_batches.extracted_at)
        ) as observed_at
    from students
    left join users on students.sis_student_id = users.user_sourced_id
    left join demographics on students.sis_student_id = demographics.user_sourced_id
    left join batches as user_batches on users.batch_id = user_batches.batch_id
    left join batches as demographic_batches on demographics.batch_id = demographic_batches.batch_id
)

select * from final

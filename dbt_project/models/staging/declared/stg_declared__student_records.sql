-- One identity record per student id per declared system: each role (state id, names, birth
-- date, grade, school, address, phone, guardian) from the newest committed delivery that gave it, across every declared
-- file of the system (a roster file and a results file of one vendor complete each other).
with records as (
    select landed.*
    from {{ source('declared', 'student_records') }} as landed
    where landed._batch_id in (select batch_id from {{ source('declared', 'system_batches') }})
),

newest as (
    select
        _district_code as district_code,
        _source_system as source_system,
        student_id,
        {{ newest_non_null('state_id', '_extracted_at') }} as state_id,
        {{ newest_non_null('district_id', '_extracted_at') }} as district_id,
        {{ newest_non_null('first_name', '_extracted_at') }} as first_name,
        {{ newest_non_null('middle_name', '_extracted_at') }} as middle_name,
        {{ newest_non_null('last_name', '_extracted_at') }} as last_name,
        cast({{ newest_non_null('birth_date', '_extracted_at') }} as date) as birth_date,
        {{ newest_non_null('grade', '_extracted_at') }} as grade,
        {{ newest_non_null('sex', '_extracted_at') }} as sex,
        {{ newest_non_null('school', '_extracted_at') }} as school,
        {{ newest_non_null('street_address', '_extracted_at') }} as street_address,
        {{ newest_non_null('city', '_extracted_at') }} as city,
        {{ newest_non_null('postal_code', '_extracted_at') }} as postal_code,
        {{ newest_non_null('phone', '_extracted_at') }} as phone,
        {{ newest_non_null('guardian_name', '_extracted_at') }} as guardian_name,
        max(_extracted_at) as extracted_at
    from records
    group by _district_code, _source_system, student_id
)

select * from newest

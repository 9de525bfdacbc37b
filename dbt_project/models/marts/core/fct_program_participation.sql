-- Program participation spells from the SIS program flags (metadata.* extension columns) as
-- kept by snap_student_programs. The SIS sends flags without dates, so dates are those of the
-- deliveries: a spell begins with the first version carrying the flag (the school-year start
-- when it was already set when the warehouse first saw the student) and ends the day before the
-- first version without it (NULL while it continues). begin_date_basis says which.
with program_versions as (
    select * from {{ ref('snap_student_programs') }}
),

program_types as (
    select * from {{ ref('xwalk_program_type') }} where source_system = 'oneroster'
),

-- One row per student per version per program: the flag's value in that version.
flags as (
    {% set programs = {
        'idea': 'has_idea_services',
        'section_504': 'has_section_504_plan',
        'english_learner': 'is_english_learner',
        'economically_disadvantaged': 'is_economically_disadvantaged',
        'homeless': 'is_homeless',
    } %}
    {% for program, column in programs.items() %}
    select
        district_code,
        student_key,
        '{{ program }}' as program_code,
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to,
        coalesce({{ column }}, false) as is_participating
    from program_versions
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- Gaps and islands: consecutive versions with the flag set form one spell.
islands as (
    select
        flags.*,
        min(valid_from) over (partition by student_key) as first_seen,
        sum(case when is_participating then 0 else 1 end) over (
            partition by student_key, program_code order by valid_from rows unbounded preceding
        ) as island
    from flags
),

spells as (
    select
        district_code,
        student_key,
        program_code,
        min(valid_from) as spell_from,
        min(first_seen) as first_seen,
        -- Open while the last version in the spell is open.
        case when count(*) = count(valid_to) then max(valid_to) end as spell_to
    from islands
    where is_participating
    group by district_code, student_key, program_code, island
),

numbered_spells as (
    select
        *,
        -- The n-th spell of a student in a program: spells only grow at the end, so it stays.
        row_number() over (partition by student_key, program_code order by spell_from) as spell_number
    from spells
),

final as (
    select
        -- From natural keys and the spell's number, never from a delivery time (reproducible).
        {{ surrogate_key(['spells.student_key', 'spells.program_code', 'spells.spell_number']) }}
            as program_participation_key,
        spells.district_code,
        spells.student_key,
        spells.program_code,
        program_types.program_name,
        program_types.ceds_element,
        program_types.edfi_program_type_descriptor,
        program_types.edfi_student_characteristic_descriptor,
        case
            when spells.spell_from = spells.first_seen then cast('{{ var("school_year_start") }}' as date)
            else cast(spells.spell_from as date)
        end as begin_date,
        case when spells.spell_from = spells.first_seen then 'school_year_start' else 'observed_change' end
            as begin_date_basis,
        case when spells.spell_to is not null then
            greatest(
                cast(spells.spell_from as date),
                cast({{ dbt.dateadd('day', -1, 'cast(spells.spell_to as date)') }} as date)
            )
        end as end_date,
        spells.spell_to is null as is_current,
        'sis' as source_system
    from numbered_spells as spells
    left join program_types on spells.program_code = program_types.program_code
)

select * from final

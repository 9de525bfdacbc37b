{#- A grade as the SIS writes it (KG, 01 … 12): vendors write K and 3. Other values (PK, TK, 13,
    Other) pass through upper-cased, so they still compare equal across systems. -#}
{% macro person_grade_level(column) -%}
    case
        when upper(trim({{ column }})) in ('K', 'KG', 'KINDERGARTEN') then 'KG'
        when length(trim({{ column }})) = 1 and trim({{ column }}) between '0' and '9'
            then {{ dbt.concat(["'0'", 'trim(' ~ column ~ ')']) }}
        else upper(trim({{ column }}))
    end
{%- endmacro %}

{#- The optional person-record columns (identity/records.py OPTIONAL_COLUMNS): what systems share
    when their ids do not, compared where two records both carry one. A source passes the
    expressions it has; the rest are null. -#}
{% macro person_contact_columns(street_address=none, city=none, postal_code=none, phone=none, guardian_name=none) -%}
    cast({{ street_address or 'null' }} as {{ dbt.type_string() }}) as street_address,
    cast({{ city or 'null' }} as {{ dbt.type_string() }}) as city,
    cast({{ postal_code or 'null' }} as {{ dbt.type_string() }}) as postal_code,
    cast({{ phone or 'null' }} as {{ dbt.type_string() }}) as phone,
    cast({{ guardian_name or 'null' }} as {{ dbt.type_string() }}) as guardian_name
{%- endmacro %}

{#- The newest identity run's crosswalk of one person type ('student' or 'staff'): every record
    any source ever sent, with the district person key it resolved to (null: queued for review
    or unlinked). The person key is the SIS sourcedId, so the warehouse key is the same
    surrogate key dim_student / dim_staff build from that natural key. -#}
{% macro identity_xwalk(person_type) -%}
with landed as (
    select * from {{ current_snapshot_records('identity', person_type ~ '_xwalk') }} as newest
),

final as (
    select
        _district_code as district_code,
        source_system,
        source_id,
        person_key,
        case when person_key is not null
            then {{ surrogate_key(['_district_code', "'sis'", 'person_key']) }}
        end as {{ person_type }}_key,
        method,
        cast(score as double) as match_score,
        person_key is not null as is_linked,
        cast(first_seen_at as timestamp) as first_seen_at,
        cast(last_seen_at as timestamp) as last_seen_at,
        is_current = 'true' as is_current,
        _batch_id as identity_batch_id
    from landed
)

select * from final
{%- endmacro %}

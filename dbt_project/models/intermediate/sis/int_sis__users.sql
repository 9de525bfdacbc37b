-- The SIS's current users from its authoritative channel (see macros/sis_channels.sql), each
-- with its district (local) and state ID: the user's own field (identifier;
-- userMasterIdentifier), else its userIds item of the first configured type
-- (business rule sis_user_id_types, macros/user_ids.sql). A user with neither keeps a null ID
-- and stays a user: every key is built from the sourcedId.
{%- set id_types = var('sis_user_id_types') %}

with channel_users as (
    {{ sis_channel_rows('users') }}
),

identified as (
    select
        district_code,
        user_sourced_id,
        is_enabled,
        username,
        user_ids,
        first_name,
        middle_name,
        last_name,
        {{ sis_user_id('local_identifier', 'user_ids', id_types['local']) }} as local_identifier,
        {{ sis_user_id('master_identifier', 'user_ids', id_types['state']) }} as master_identifier,
        email,
        phone,
        grade_levels,
        primary_org_sourced_id,
        batch_id,
        source_ref,
        sis_channel
    from channel_users
)

select * from identified

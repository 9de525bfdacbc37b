-- The SIS's current users from its authoritative channel (see macros/sis_channels.sql).
{{ sis_channel_rows('users') }}

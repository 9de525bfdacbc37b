-- The SIS's current roles from its authoritative channel (see macros/sis_channels.sql).
{{ sis_channel_rows('roles') }}

-- The SIS's current orgs from its authoritative channel (see macros/sis_channels.sql).
{{ sis_channel_rows('orgs') }}

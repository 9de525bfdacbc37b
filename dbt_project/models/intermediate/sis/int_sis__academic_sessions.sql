-- The SIS's current academic_sessions from its authoritative channel (see macros/sis_channels.sql).
{{ sis_channel_rows('academic_sessions') }}

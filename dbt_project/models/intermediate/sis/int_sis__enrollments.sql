-- The SIS's current enrollments from its authoritative channel (see macros/sis_channels.sql).
{{ sis_channel_rows('enrollments') }}

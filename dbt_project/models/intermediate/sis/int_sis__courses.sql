-- The SIS's current courses from its authoritative channel (see macros/sis_channels.sql).
{{ sis_channel_rows('courses') }}

-- The SIS's current classes from its authoritative channel (see macros/sis_channels.sql).
{{ sis_channel_rows('classes') }}

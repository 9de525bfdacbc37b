-- Every staff record any source ever sent and the staff member it resolved to (macros/identity.sql).
{{ identity_xwalk('staff') }}

-- Every student record any source ever sent and the student it resolved to (macros/identity.sql).
{{ identity_xwalk('student') }}

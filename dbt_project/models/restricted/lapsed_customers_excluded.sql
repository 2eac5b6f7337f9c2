-- RESTRICTED (counts only, no PII). Lapsed/at-risk members left out of the outreach extract,
-- counted by reason for the manifest (macro outreach_left_out: no_consent, minor,
-- invalid_mobile, each member once under the first; always three rows).
{{ outreach_left_out('lapsed_customers') }}

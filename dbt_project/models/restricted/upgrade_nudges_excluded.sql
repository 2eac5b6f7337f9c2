-- RESTRICTED (counts only, no PII). Upgrade-nudge candidates left out of the outreach extract,
-- counted by reason for the manifest (macro outreach_left_out, as for the lapsed list).
{{ outreach_left_out('upgrade_nudges') }}

-- pgbench script: a lone claim through the batch function relevo_claim_batch, as if lone
-- claims used it too: the call and the two reads a caller needs (the claim, its instance).
-- The alternative README "One rule" measured against scripts/claim-one-statement.pgbench.sql.
-- Variables as in scripts/claim.pgbench.sql (tenant_id, sender_token_id, today).
\set one 1
BEGIN;
SELECT claim_row_id FROM relevo_claim_batch(ARRAY[:tenant_id]::bigint[], ARRAY[:one]::integer[], ARRAY['round_robin'], ARRAY[NULL]::text[], ARRAY[:sender_token_id]::bigint[], ARRAY[gen_random_uuid()::text], ARRAY[CAST(:today AS date)]::date[], ARRAY[LOCALTIMESTAMP]::timestamp[], make_interval(hours => 24)) \gset
SELECT * FROM claims WHERE id = :claim_row_id;
SELECT * FROM whatsapp_instances WHERE id = (SELECT instance_id FROM claims WHERE id = :claim_row_id);
COMMIT;

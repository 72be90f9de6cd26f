-- pgbench script: the statements Relevo sends to PostgreSQL for one claim
-- (POST /api/v1/tenants/{tenant}/sender/claim with body {}, round_robin, sender token),
-- as captured with log_statement = 'all' (scripts/bench-claims.sh prints the capture of
-- each run as claim-statements.txt). Run by scripts/bench-claims.sh as
--   PGTZ=UTC pgbench -n -f scripts/claim.pgbench.sql -M prepared -c C -j J -T S \
--     -D tenant_id=… -D token_hash=… -D sender_token_id=… -D today=YYYY-MM-DD DB
-- Differences from the endpoint, all negligible in cost: the claim's uuid comes from
-- gen_random_uuid() and "now" from LOCALTIMESTAMP (session time zone UTC) where Relevo
-- binds values it computed. When SKIP LOCKED finds no free row, Relevo goes on to a
-- waiting transaction (src/db/claims/claim.rs, grant); the benchmark has more instances than
-- claimers and capacity never runs out, so that branch is left out.
\set one 1
-- r2d2 checks the pooled connection out with a ping (test_on_check_out defaults to true).
SELECT 1;
-- The sender token and its tenant (src/db/sender_tokens.rs, authenticate).
SELECT "sender_tokens"."id", "sender_tokens"."tenant_id", "sender_tokens"."name", "sender_tokens"."expires_at", "sender_tokens"."created_at", "tenants"."id", "tenants"."slug", "tenants"."nombre", "tenants"."tipo_cargo", "tenants"."identificacion", "tenants"."timezone", "tenants"."rotation_strategy", "tenants"."callback_url", "tenants"."callback_secret_encrypted", "tenants"."currency", "tenants"."whatsapp_credits", "tenants"."whatsapp_unit_price_micros", "tenants"."created_at", "tenants"."updated_at" FROM ("sender_tokens" INNER JOIN "tenants" ON ("sender_tokens"."tenant_id" = "tenants"."id")) WHERE (("sender_tokens"."token_hash" = :token_hash) AND (("sender_tokens"."expires_at" IS NULL) OR ("sender_tokens"."expires_at" > LOCALTIMESTAMP))) LIMIT :one;
-- The claim as one statement (src/db/claims/claim.rs, claim_in_one_statement).
WITH picked AS (SELECT * FROM whatsapp_instances WHERE tenant_id = :tenant_id AND is_active AND connection_status NOT IN ('disconnected', 'error') AND daily_message_limit > CASE WHEN last_reset_date >= :today THEN messages_sent_today ELSE 0 END ORDER BY last_used_at IS NOT NULL, last_used_at, id LIMIT 1 FOR UPDATE SKIP LOCKED), counted AS ( UPDATE whatsapp_instances AS w SET messages_sent_today = p.sent_before + LEAST(:one, p.daily_message_limit - p.sent_before), last_reset_date = p.usage_date, last_used_at = LOCALTIMESTAMP FROM (SELECT id, daily_message_limit, GREATEST(last_reset_date, :today) AS usage_date, CASE WHEN last_reset_date >= :today THEN messages_sent_today ELSE 0 END AS sent_before FROM picked) AS p WHERE w.id = p.id RETURNING w.*, LEAST(:one, p.daily_message_limit - p.sent_before) AS granted, p.usage_date AS claim_date), logged AS ( INSERT INTO claims (public_id, tenant_id, instance_id, usage_date, requested, granted, strategy, idempotency_key, sender_token_id, created_at, updated_at, counter_epoch) SELECT gen_random_uuid()::text, :tenant_id, id, claim_date, :one, granted, :strategy, NULL, :sender_token_id, LOCALTIMESTAMP, LOCALTIMESTAMP, counter_epoch FROM counted RETURNING id AS claim_row_id), totals AS ( INSERT INTO instance_daily_usage (instance_id, usage_date, tenant_id, granted, released, updated_at) SELECT id, claim_date, :tenant_id, granted, 0, LOCALTIMESTAMP FROM counted ON CONFLICT (instance_id, usage_date) DO UPDATE SET granted = instance_daily_usage.granted + EXCLUDED.granted, updated_at = EXCLUDED.updated_at) SELECT counted.*, logged.claim_row_id FROM counted, logged;

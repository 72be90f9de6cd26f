-- pgbench script: the statements Relevo sends to PostgreSQL for one claim
-- (POST /api/v1/tenants/{tenant}/sender/claim with body {}, round_robin, sender token),
-- as captured with log_statement = 'all' (scripts/bench-claims.sh prints the capture of
-- each run as claim-statements.txt). Run by scripts/bench-claims.sh as
--   PGTZ=UTC pgbench -n -f scripts/claim.pgbench.sql -M prepared -c C -j J -T S \
--     -D tenant_id=… -D token_hash=… -D sender_token_id=… -D today=YYYY-MM-DD DB
-- Differences from the endpoint, all negligible in cost: the claim's uuid comes from
-- gen_random_uuid() and "now" from LOCALTIMESTAMP (session time zone UTC) where Relevo
-- binds values it computed; `sent` is taken as today's counter + 1 (the seeded counters
-- belong to today, and capacity never runs out in the benchmark).
\set one 1
\set zero 0
-- r2d2 checks the pooled connection out with a ping (test_on_check_out defaults to true).
SELECT 1;
-- The sender token and its tenant (src/db/sender_tokens.rs, authenticate).
SELECT "sender_tokens"."id", "sender_tokens"."tenant_id", "sender_tokens"."name", "sender_tokens"."expires_at", "sender_tokens"."created_at", "tenants"."id", "tenants"."slug", "tenants"."nombre", "tenants"."tipo_cargo", "tenants"."identificacion", "tenants"."timezone", "tenants"."rotation_strategy", "tenants"."callback_url", "tenants"."callback_secret_encrypted", "tenants"."currency", "tenants"."whatsapp_credits", "tenants"."whatsapp_unit_price", "tenants"."created_at", "tenants"."updated_at" FROM ("sender_tokens" INNER JOIN "tenants" ON ("sender_tokens"."tenant_id" = "tenants"."id")) WHERE (("sender_tokens"."token_hash" = :token_hash) AND (("sender_tokens"."expires_at" IS NULL) OR ("sender_tokens"."expires_at" > LOCALTIMESTAMP))) LIMIT :one;
-- The claim transaction (src/db/claims.rs, grant).
BEGIN;
\set id 0
SELECT * FROM whatsapp_instances WHERE tenant_id = :tenant_id AND is_active AND connection_status NOT IN ('disconnected', 'error') AND daily_message_limit > CASE WHEN last_reset_date >= :today THEN messages_sent_today ELSE 0 END ORDER BY last_used_at IS NOT NULL, last_used_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
\aset
\if :id = 0
-- Every eligible row was held by another claimer: wait for one (pick_by_strategy).
SELECT * FROM whatsapp_instances WHERE tenant_id = :tenant_id AND is_active AND connection_status NOT IN ('disconnected', 'error') AND daily_message_limit > CASE WHEN last_reset_date >= :today THEN messages_sent_today ELSE 0 END ORDER BY last_used_at IS NOT NULL, last_used_at, id LIMIT 1 FOR UPDATE
\gset
\endif
\set sent :messages_sent_today + 1
UPDATE "whatsapp_instances" SET "messages_sent_today" = :sent, "last_reset_date" = :today, "last_used_at" = LOCALTIMESTAMP WHERE ("whatsapp_instances"."id" = :id);
INSERT INTO "claims" ("public_id", "tenant_id", "instance_id", "usage_date", "requested", "granted", "strategy", "recipient", "idempotency_key", "sender_token_id", "created_at", "updated_at") VALUES (gen_random_uuid()::text, :tenant_id, :id, :today, :one, :one, :strategy, DEFAULT, DEFAULT, :sender_token_id, LOCALTIMESTAMP, LOCALTIMESTAMP) RETURNING "claims"."id", "claims"."public_id", "claims"."tenant_id", "claims"."instance_id", "claims"."usage_date", "claims"."requested", "claims"."granted", "claims"."released", "claims"."strategy", "claims"."recipient", "claims"."idempotency_key", "claims"."sender_token_id", "claims"."created_at", "claims"."updated_at";
INSERT INTO "instance_daily_usage" ("instance_id", "usage_date", "tenant_id", "granted", "released", "updated_at") VALUES (:id, :today, :tenant_id, :one, :zero, LOCALTIMESTAMP) ON CONFLICT ("instance_id", "usage_date") DO UPDATE SET "granted" = ("instance_daily_usage"."granted" + :one), "released" = ("instance_daily_usage"."released" + :zero), "updated_at" = LOCALTIMESTAMP;
COMMIT;

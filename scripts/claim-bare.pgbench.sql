-- pgbench script: the bare claim transaction of scripts/claim.pgbench.sql (BEGIN … COMMIT),
-- without the connection check-out ping and the sender-token lookup that precede it.
-- Same variables and caveats as scripts/claim.pgbench.sql.
\set one 1
\set zero 0
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

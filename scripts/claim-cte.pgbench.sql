-- pgbench script, a what-if and NOT what Relevo sends today: the whole claim of
-- scripts/claim.pgbench.sql (token lookup, pick and lock, count, log, daily usage) as ONE
-- statement in autocommit, i.e. one round trip instead of eight. It measures how much of the
-- database side's cost is round trips and per-statement overhead. (When SKIP LOCKED finds
-- nothing, Relevo would still need its blocking second pick; capacity never runs out here and
-- the benchmark has more instances than claimers, so that branch is left out.)
-- Variables as in scripts/claim.pgbench.sql.
\set one 1
WITH token AS (
    SELECT "sender_tokens"."id" AS token_id, "tenants"."id" AS tenant_id
    FROM "sender_tokens" INNER JOIN "tenants" ON "sender_tokens"."tenant_id" = "tenants"."id"
    WHERE "sender_tokens"."token_hash" = :token_hash
      AND ("sender_tokens"."expires_at" IS NULL OR "sender_tokens"."expires_at" > LOCALTIMESTAMP)
), picked AS (
    SELECT * FROM whatsapp_instances
    WHERE tenant_id = (SELECT tenant_id FROM token) AND is_active
      AND connection_status NOT IN ('disconnected', 'error')
      AND daily_message_limit > CASE WHEN last_reset_date >= :today THEN messages_sent_today ELSE 0 END
    ORDER BY last_used_at IS NOT NULL, last_used_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
), counted AS (
    SELECT id, tenant_id,
           LEAST(:one, daily_message_limit - CASE WHEN last_reset_date >= :today THEN messages_sent_today ELSE 0 END) AS granted,
           CASE WHEN last_reset_date >= :today THEN messages_sent_today ELSE 0 END AS sent
    FROM picked
), updated AS (
    UPDATE whatsapp_instances w
    SET messages_sent_today = counted.sent + counted.granted, last_reset_date = :today, last_used_at = LOCALTIMESTAMP
    FROM counted WHERE w.id = counted.id
    RETURNING w.*, counted.granted
), claim AS (
    INSERT INTO claims (public_id, tenant_id, instance_id, usage_date, requested, granted, strategy,
                        sender_token_id, created_at, updated_at)
    SELECT gen_random_uuid()::text, tenant_id, id, :today, :one, granted, :strategy,
           (SELECT token_id FROM token), LOCALTIMESTAMP, LOCALTIMESTAMP
    FROM updated
    RETURNING *
), usage AS (
    INSERT INTO instance_daily_usage (instance_id, usage_date, tenant_id, granted, released, updated_at)
    SELECT id, :today, tenant_id, granted, 0, LOCALTIMESTAMP FROM updated
    ON CONFLICT (instance_id, usage_date) DO UPDATE
    SET granted = instance_daily_usage.granted + EXCLUDED.granted, updated_at = EXCLUDED.updated_at
)
SELECT claim.*, updated.* FROM claim JOIN updated ON updated.id = claim.instance_id;

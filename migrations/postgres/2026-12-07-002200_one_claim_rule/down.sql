-- The function of 2026-12-07-000600_claims_only_live again.
CREATE OR REPLACE FUNCTION relevo_claim_batch(
    p_tenant BIGINT[],
    p_count INTEGER[],
    p_strategy TEXT[],
    p_key TEXT[],
    p_token BIGINT[],
    p_public_id TEXT[],
    p_today DATE[],
    p_now TIMESTAMP[],
    p_key_window INTERVAL
) RETURNS TABLE (idx INTEGER, claim_row_id BIGINT, replayed BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
    i INTEGER;
    earlier RECORD;
    picked RECORD;
    sent_before INTEGER;
    grant_now INTEGER;
    usage_day DATE;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_tenant, 1), 0) LOOP
        idx := i;
        claim_row_id := NULL;
        replayed := FALSE;
        IF p_key[i] IS NOT NULL THEN
            SELECT c.id, c.created_at INTO earlier FROM claims c
            WHERE c.tenant_id = p_tenant[i] AND c.idempotency_key = p_key[i];
            IF FOUND THEN
                IF earlier.created_at >= p_now[i] - p_key_window THEN
                    claim_row_id := earlier.id;
                    replayed := TRUE;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                -- Expired: the key is free for a new claim; the old one stays in the log.
                UPDATE claims SET idempotency_key = NULL WHERE id = earlier.id;
            END IF;
        END IF;

        IF p_strategy[i] = 'least_used' THEN
            SELECT w.id, w.daily_message_limit, w.messages_sent_today, w.last_reset_date, w.counter_epoch
            INTO picked FROM whatsapp_instances w
            WHERE w.tenant_id = p_tenant[i] AND w.is_active
              AND w.connection_status IN ('connected', 'unknown')
              AND (NOT w.provisioned OR w.connected_at IS NOT NULL)
              AND w.daily_message_limit > CASE WHEN w.last_reset_date >= p_today[i] THEN w.messages_sent_today ELSE 0 END
            ORDER BY CASE WHEN w.last_reset_date >= p_today[i] THEN w.messages_sent_today ELSE 0 END, w.id
            LIMIT 1 FOR UPDATE SKIP LOCKED;
        ELSIF p_strategy[i] = 'most_remaining' THEN
            SELECT w.id, w.daily_message_limit, w.messages_sent_today, w.last_reset_date, w.counter_epoch
            INTO picked FROM whatsapp_instances w
            WHERE w.tenant_id = p_tenant[i] AND w.is_active
              AND w.connection_status IN ('connected', 'unknown')
              AND (NOT w.provisioned OR w.connected_at IS NOT NULL)
              AND w.daily_message_limit > CASE WHEN w.last_reset_date >= p_today[i] THEN w.messages_sent_today ELSE 0 END
            ORDER BY w.daily_message_limit - CASE WHEN w.last_reset_date >= p_today[i] THEN w.messages_sent_today ELSE 0 END DESC, w.id
            LIMIT 1 FOR UPDATE SKIP LOCKED;
        ELSE
            SELECT w.id, w.daily_message_limit, w.messages_sent_today, w.last_reset_date, w.counter_epoch
            INTO picked FROM whatsapp_instances w
            WHERE w.tenant_id = p_tenant[i] AND w.is_active
              AND w.connection_status IN ('connected', 'unknown')
              AND (NOT w.provisioned OR w.connected_at IS NOT NULL)
              AND w.daily_message_limit > CASE WHEN w.last_reset_date >= p_today[i] THEN w.messages_sent_today ELSE 0 END
            ORDER BY w.last_used_at IS NOT NULL, w.last_used_at, w.id
            LIMIT 1 FOR UPDATE SKIP LOCKED;
        END IF;
        IF NOT FOUND THEN
            RETURN NEXT;
            CONTINUE;
        END IF;

        sent_before := CASE WHEN picked.last_reset_date >= p_today[i] THEN picked.messages_sent_today ELSE 0 END;
        grant_now := LEAST(p_count[i], picked.daily_message_limit - sent_before);
        usage_day := GREATEST(picked.last_reset_date, p_today[i]);
        UPDATE whatsapp_instances
        SET messages_sent_today = sent_before + grant_now, last_reset_date = usage_day, last_used_at = p_now[i]
        WHERE id = picked.id;
        INSERT INTO claims (public_id, tenant_id, instance_id, usage_date, requested, granted, strategy,
                            idempotency_key, sender_token_id, created_at, updated_at, counter_epoch)
        VALUES (p_public_id[i], p_tenant[i], picked.id, usage_day, p_count[i], grant_now, p_strategy[i],
                p_key[i], p_token[i], p_now[i], p_now[i], picked.counter_epoch)
        RETURNING id INTO claim_row_id;
        INSERT INTO instance_daily_usage (instance_id, usage_date, tenant_id, granted, released, updated_at)
        VALUES (picked.id, usage_day, p_tenant[i], grant_now, 0, p_now[i])
        ON CONFLICT (instance_id, usage_date) DO UPDATE
        SET granted = instance_daily_usage.granted + EXCLUDED.granted, updated_at = EXCLUDED.updated_at;
        RETURN NEXT;
    END LOOP;
END
$$;

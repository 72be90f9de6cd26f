// Written by hand: one schema for both backends, with portable SQL types only.

diesel::table! {
    tenants (id) {
        id -> BigInt,
        slug -> Text,
        nombre -> Text,
        tipo_cargo -> Nullable<Text>,
        identificacion -> Nullable<Text>,
        timezone -> Text,
        rotation_strategy -> Text,
        callback_url -> Nullable<Text>,
        callback_secret_encrypted -> Nullable<Text>,
        currency -> Text,
        whatsapp_credits -> BigInt,
        whatsapp_unit_price_micros -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        tenant_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_version -> Integer,
    }
}

diesel::table! {
    whatsapp_instances (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        phone_number -> Text,
        instance_name -> Text,
        evolution_api_key_encrypted -> Text,
        evolution_api_url -> Nullable<Text>,
        daily_message_limit -> Integer,
        messages_sent_today -> Integer,
        last_reset_date -> Date,
        is_active -> Bool,
        notes -> Nullable<Text>,
        connection_status -> Text,
        owner_jid -> Nullable<Text>,
        profile_name -> Nullable<Text>,
        last_checked_at -> Nullable<Timestamp>,
        connected_at -> Nullable<Timestamp>,
        priority -> Integer,
        last_used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        evolution_server_id -> Nullable<BigInt>,
        provisioned -> Bool,
        qr_code -> Nullable<Text>,
        qr_code_base64 -> Nullable<Text>,
        pairing_code -> Nullable<Text>,
        qr_updated_at -> Nullable<Timestamp>,
        counter_epoch -> Integer,
        status_reason -> Nullable<Integer>,
        status_since -> Nullable<Timestamp>,
        sendable_since -> Nullable<Timestamp>,
        notified_status -> Nullable<Text>,
        remote_event_at -> Nullable<Timestamp>,
        status_confirmed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_failures (bucket) {
        bucket -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
    }
}

diesel::table! {
    sender_tokens (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    claims (id) {
        id -> BigInt,
        public_id -> Text,
        tenant_id -> BigInt,
        instance_id -> BigInt,
        usage_date -> Date,
        requested -> Integer,
        granted -> Integer,
        released -> Integer,
        strategy -> Text,
        recipient -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
        sender_token_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        counter_epoch -> Integer,
    }
}

diesel::table! {
    claim_releases (id) {
        id -> BigInt,
        claim_id -> BigInt,
        released -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    instance_daily_usage (instance_id, usage_date) {
        instance_id -> BigInt,
        usage_date -> Date,
        tenant_id -> BigInt,
        granted -> Integer,
        released -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    recipient_routes (tenant_id, recipient) {
        tenant_id -> BigInt,
        recipient -> Text,
        instance_id -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    evolution_servers (id) {
        id -> BigInt,
        name -> Text,
        base_url -> Text,
        api_key_encrypted -> Nullable<Text>,
        webhook_token_encrypted -> Nullable<Text>,
        webhook_token_digest -> Nullable<Text>,
        is_active -> Bool,
        is_default -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        actor_id -> BigInt,
        actor_email -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> BigInt,
        tenant_id -> Nullable<BigInt>,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        request_id -> Text,
        created_at -> Timestamp,
        client_request_id -> Nullable<Text>,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    sync_runs (id) {
        id -> BigInt,
        trigger -> Text,
        scope -> Text,
        tenant_id -> Nullable<BigInt>,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        synced -> Integer,
        updated -> Integer,
        orphaned -> Integer,
        errors -> Text,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        public_id -> Text,
        tenant_id -> BigInt,
        event_type -> Text,
        payload -> Text,
        dedupe_key -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        public_id -> Text,
        tenant_id -> BigInt,
        recipient -> Text,
        status -> Text,
        instance_id -> BigInt,
        instance_name -> Text,
        instance_phone -> Text,
        claim_id -> Text,
        evolution_message_id -> Nullable<Text>,
        error_key -> Nullable<Text>,
        attempts -> Text,
        strategy -> Text,
        idempotency_key -> Nullable<Text>,
        sender_token_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_by_user_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    message_receipts (instance_id, evolution_message_id, status) {
        instance_id -> BigInt,
        evolution_message_id -> Text,
        status -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    instance_webhook_tokens (instance_id) {
        instance_id -> BigInt,
        token_digest -> Nullable<Text>,
        pending_digest -> Nullable<Text>,
        rotated_at -> Timestamp,
    }
}

diesel::table! {
    retired_instance_names (evolution_server_id, instance_name) {
        evolution_server_id -> BigInt,
        instance_name -> Text,
        former_tenant_id -> BigInt,
        retired_at -> Timestamp,
    }
}

diesel::joinable!(users -> tenants (tenant_id));
diesel::joinable!(instance_webhook_tokens -> whatsapp_instances (instance_id));
diesel::joinable!(whatsapp_instances -> tenants (tenant_id));
diesel::joinable!(whatsapp_instances -> evolution_servers (evolution_server_id));
diesel::joinable!(sender_tokens -> tenants (tenant_id));
diesel::joinable!(claims -> tenants (tenant_id));
diesel::joinable!(claim_releases -> claims (claim_id));
diesel::joinable!(webhook_events -> tenants (tenant_id));
diesel::joinable!(messages -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    users,
    whatsapp_instances,
    login_failures,
    sender_tokens,
    claims,
    claim_releases,
    instance_daily_usage,
    recipient_routes,
    evolution_servers,
    audit_log,
    leases,
    sync_runs,
    messages,
    message_receipts,
    webhook_events,
    instance_webhook_tokens,
    retired_instance_names,
);

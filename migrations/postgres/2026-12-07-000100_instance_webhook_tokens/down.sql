DROP TABLE instance_webhook_tokens;

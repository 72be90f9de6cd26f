DROP TABLE recipient_routes;
DROP TABLE instance_daily_usage;
DROP TABLE claim_releases;
DROP TABLE claims;
DROP TABLE sender_tokens;

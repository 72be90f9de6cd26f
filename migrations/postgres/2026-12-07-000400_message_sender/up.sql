-- Who sent each message (SPEC §9 audit): a sender token (`sender_token_id`) or a super
-- admin (`sent_by_user_id`). No foreign key: the log outlives users.
ALTER TABLE messages ADD COLUMN sent_by_user_id BIGINT;

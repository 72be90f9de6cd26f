ALTER TABLE messages DROP COLUMN sent_by_user_id;

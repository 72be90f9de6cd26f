-- reset-counter starts a new count: the instance's count has a number, and each claim
-- remembers the count it was made in, so a release of a claim made before a reset
-- gives nothing back to the new count.
ALTER TABLE whatsapp_instances ADD COLUMN counter_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE claims ADD COLUMN counter_epoch INTEGER NOT NULL DEFAULT 0;

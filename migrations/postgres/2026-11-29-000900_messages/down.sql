DROP TABLE message_receipts;
DROP TABLE messages;

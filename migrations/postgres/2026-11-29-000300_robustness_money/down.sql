ALTER TABLE tenants ADD COLUMN whatsapp_unit_price DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE tenants SET whatsapp_unit_price = whatsapp_unit_price_micros / 1000000.0;
ALTER TABLE tenants DROP COLUMN whatsapp_unit_price_micros;

-- Money is exact: the WhatsApp unit price is kept in whole millionths (micro-units)
-- of the currency instead of a floating-point number. The API accepts 0 to 1000000
-- with at most 4 decimals; a price stored outside that (NaN and infinities included)
-- is brought to its nearest bound, and rounded to 4 decimals.
ALTER TABLE tenants ADD COLUMN whatsapp_unit_price_micros BIGINT NOT NULL DEFAULT 0
    CHECK (whatsapp_unit_price_micros BETWEEN 0 AND 1000000000000);
UPDATE tenants SET whatsapp_unit_price_micros =
    (round(LEAST(GREATEST(whatsapp_unit_price, 0), 1000000)::numeric, 4) * 1000000)::bigint;
ALTER TABLE tenants DROP COLUMN whatsapp_unit_price;

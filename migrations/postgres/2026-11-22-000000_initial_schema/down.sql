DROP TABLE login_throttle;
DROP TABLE whatsapp_instances;
DROP TABLE users;
DROP TABLE tenants;

-- There is always at least one super admin (SPEC §9). SQLite runs one write transaction
-- at a time, so looking after the change is enough.
CREATE TRIGGER users_keep_a_super_admin_on_delete AFTER DELETE ON users
    WHEN OLD.role = 'super_admin'
        AND NOT EXISTS (SELECT 1 FROM users WHERE role = 'super_admin')
BEGIN
    SELECT RAISE(ABORT, 'relevo_last_super_admin: Relevo needs at least one super admin');
END;
CREATE TRIGGER users_keep_a_super_admin_on_update AFTER UPDATE OF role ON users
    WHEN OLD.role = 'super_admin' AND NEW.role <> 'super_admin'
        AND NOT EXISTS (SELECT 1 FROM users WHERE role = 'super_admin')
BEGIN
    SELECT RAISE(ABORT, 'relevo_last_super_admin: Relevo needs at least one super admin');
END;

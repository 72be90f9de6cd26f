-- There is always at least one super admin (SPEC §9), whatever requests race: a change
-- that removes a super admin (delete, or a role change) takes a transaction-scoped lock
-- that serialises such changes, then looks again with a fresh snapshot; if none is left,
-- it fails and rolls back. Transaction-scoped, so it holds behind pgbouncer too.
CREATE FUNCTION relevo_keep_a_super_admin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('relevo_keep_a_super_admin'));
    IF NOT EXISTS (SELECT 1 FROM users WHERE role = 'super_admin') THEN
        RAISE EXCEPTION 'relevo_last_super_admin: Relevo needs at least one super admin';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER users_keep_a_super_admin_on_delete AFTER DELETE ON users
    FOR EACH ROW WHEN (OLD.role = 'super_admin')
    EXECUTE FUNCTION relevo_keep_a_super_admin();
CREATE TRIGGER users_keep_a_super_admin_on_update AFTER UPDATE OF role ON users
    FOR EACH ROW WHEN (OLD.role = 'super_admin' AND NEW.role <> 'super_admin')
    EXECUTE FUNCTION relevo_keep_a_super_admin();

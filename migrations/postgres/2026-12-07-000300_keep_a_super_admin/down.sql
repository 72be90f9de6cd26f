DROP TRIGGER users_keep_a_super_admin_on_update ON users;
DROP TRIGGER users_keep_a_super_admin_on_delete ON users;
DROP FUNCTION relevo_keep_a_super_admin();

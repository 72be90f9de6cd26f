-- PostgreSQL replaces relevo_claim_batch so that only live instances are claimed (SPEC
-- §7); SQLite has no such function (src/db/claims.rs states the rule). This migration
-- keeps the two backends' versions in step.
SELECT 1;

-- PostgreSQL replaces relevo_claim_batch with the text rendered from the rule
-- (src/db/claims/eligibility.rs); SQLite has no such function. This migration keeps the
-- two backends' versions in step.
SELECT 1;

-- PostgreSQL's relevo_claim_batch function has no SQLite twin: there a batch of claims runs
-- claim by claim inside one write transaction (src/db/claims.rs, claim_in_batch). This
-- migration keeps the two backends' versions in step.
SELECT 1;

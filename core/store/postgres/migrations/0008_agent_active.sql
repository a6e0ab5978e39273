-- An admin may deactivate an agent (who leaves the team): they can no
-- longer sign in, and no conversation reaches them. Agents are never
-- deleted, so their history keeps its author.
ALTER TABLE agents ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;

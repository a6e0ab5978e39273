-- Unread counts: the last message the assigned agent has seen.
ALTER TABLE conversations ADD COLUMN agent_read_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX auth_sessions_agent ON auth_sessions (agent_id);

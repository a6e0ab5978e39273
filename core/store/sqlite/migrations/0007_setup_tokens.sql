-- The digests of the one-time setup tokens printed at start while no agent
-- exists (CONTRACT §9); emptied when the first admin is created.
CREATE TABLE setup_tokens (
  digest     TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);

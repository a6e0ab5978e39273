-- The SHA-256 an operator trusted for each third-party plugin executable
-- (`conversa plugins trust NAME`): a plugin whose executable does not match
-- is not started.
CREATE TABLE plugin_trust (
  name       TEXT PRIMARY KEY,
  sha256     TEXT NOT NULL,
  trusted_at BIGINT NOT NULL
);

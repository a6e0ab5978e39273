-- The audit log: every change a person made (CONTRACT §5 audit).
CREATE TABLE audit_log (
  id     INTEGER PRIMARY KEY,
  at     INTEGER NOT NULL,
  actor  TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  ip     TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at, id);

-- The delivery log: each webhook an integration received and each send
-- attempt, kept for [storage] delivery_log_days. message_ids holds every
-- id the row is about, each between spaces (" 42 mid.1 "), for lookups.
-- Rows are pruned oldest id first, so at needs no index of its own: one
-- index less for each webhook to write.
CREATE TABLE deliveries (
  id          INTEGER PRIMARY KEY,
  integration TEXT NOT NULL,
  at          INTEGER NOT NULL,
  direction   TEXT NOT NULL,
  message_id  TEXT NOT NULL DEFAULT '',
  message_ids TEXT NOT NULL DEFAULT '',
  outcome     TEXT NOT NULL,
  http_status INTEGER NOT NULL DEFAULT 0,
  latency_ms  INTEGER NOT NULL DEFAULT 0,
  error       TEXT NOT NULL DEFAULT '',
  detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deliveries_integration_at ON deliveries (integration, at, id);

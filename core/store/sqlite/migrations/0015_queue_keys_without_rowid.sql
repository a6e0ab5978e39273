-- queue_keys as a WITHOUT ROWID table: its rows are found, leased, moved
-- and deleted by (queue, key) alone, and as a rowid table each row lived in
-- three B-trees (the table, the primary key's index, queue_keys_due), each
-- a page written to the log at every commit that touched the row. Clustered
-- on its primary key it lives in two. An exchange enlists, leases and
-- advances an inbox key and an outbox key: six writes to this table in the
-- busiest path there is. The table holds only keys that have work, so the
-- copy is short.
CREATE TABLE queue_keys_clustered (
  queue       TEXT NOT NULL,                 -- inbox, outbox
  key         TEXT NOT NULL,
  ready_at    INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_token INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, key)
) WITHOUT ROWID;
INSERT INTO queue_keys_clustered (queue, key, ready_at, lease_owner, lease_token)
  SELECT queue, key, ready_at, lease_owner, lease_token FROM queue_keys;
DROP TABLE queue_keys;
ALTER TABLE queue_keys_clustered RENAME TO queue_keys;
CREATE INDEX queue_keys_due ON queue_keys (queue, ready_at, key);

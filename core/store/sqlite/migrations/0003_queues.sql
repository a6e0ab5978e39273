-- Fair, leased dispatch. A queue key (a contact's events, a conversation's
-- sends) has a row here while it has work; workers claim the keys due the
-- longest, straight from queue_keys_due, and run each key's rows one at a
-- time in id order. While a key is leased, ready_at is when its lease
-- expires: a worker that dies gives its keys back by itself.
CREATE TABLE queue_keys (
  queue       TEXT NOT NULL,                 -- inbox, outbox
  key         TEXT NOT NULL,
  ready_at    INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_token INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, key)
);
CREATE INDEX queue_keys_due ON queue_keys (queue, ready_at);

-- The inbox: a key's next event comes from an index, never a scan.
INSERT INTO queue_keys (queue, key, ready_at)
  SELECT 'inbox', i.partition_key, max(i.next_attempt_at) FROM inbox i
  WHERE i.processed_at IS NULL
    AND i.id = (SELECT min(j.id) FROM inbox j WHERE j.partition_key = i.partition_key AND j.processed_at IS NULL)
  GROUP BY i.partition_key;
DROP INDEX inbox_pending;
ALTER TABLE inbox DROP COLUMN next_attempt_at;
CREATE INDEX inbox_open ON inbox (partition_key, id) WHERE processed_at IS NULL;

-- The outbox: a send's state is its message's status, one machine
-- (pending, in_flight, sent, delivered, read, failed); the outbox row keeps
-- the attempts. in_flight: an attempt was committed at attempt_at and may
-- have reached the provider.
ALTER TABLE outbox ADD COLUMN attempt_at INTEGER;
ALTER TABLE messages ADD COLUMN possible_duplicate INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET status = 'in_flight'
  WHERE id IN (SELECT message_id FROM outbox WHERE state = 'pending' AND uncertain_since IS NOT NULL);
UPDATE outbox SET attempt_at = uncertain_since WHERE state = 'pending' AND uncertain_since IS NOT NULL;
UPDATE outbox SET done_at = coalesce(done_at, created_at) WHERE state <> 'pending';
INSERT INTO queue_keys (queue, key, ready_at)
  SELECT 'outbox', CAST(conversation_id AS TEXT), min(next_attempt_at) FROM outbox
  WHERE state = 'pending' GROUP BY conversation_id;
DROP INDEX outbox_pending;
ALTER TABLE outbox DROP COLUMN state;
ALTER TABLE outbox DROP COLUMN uncertain_since;
ALTER TABLE outbox DROP COLUMN next_attempt_at;
CREATE INDEX outbox_open ON outbox (conversation_id, id) WHERE done_at IS NULL;
-- Echo matching: a conversation's sends whose outcome is unknown.
CREATE INDEX messages_status ON messages (conversation_id, status) WHERE direction = 'out';

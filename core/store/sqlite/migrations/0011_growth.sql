-- Queries that stay as fast with ten million messages as with ten
-- thousand: each list the console opens is read from an index in the order
-- it is shown (newest activity first) and stops at its limit, rather than
-- sorting every conversation. core/store/sqlite/plans.go lists the queries
-- and TestQueryPlans checks that they use these.
CREATE INDEX conversations_activity ON conversations (last_activity_at, id);
CREATE INDEX conversations_state_activity ON conversations (state, last_activity_at, id);
CREATE INDEX conversations_integration_activity ON conversations (integration_id, last_activity_at, id);
CREATE INDEX conversations_state_integration_activity ON conversations (state, integration_id, last_activity_at, id);
-- An agent's conversations, all or in one state (their inbox), newest
-- first; the capacity check counts by (agent, state) as before.
DROP INDEX conversations_agent;
CREATE INDEX conversations_agent ON conversations (agent, state, last_activity_at, id);
CREATE INDEX conversations_agent_activity ON conversations (agent, last_activity_at, id);
-- The queue in serving order, without the conversations that are not in it.
CREATE INDEX conversations_queued ON conversations (state, priority DESC, queued_at, id) WHERE state = 'queued';
-- Served by conversations_queued and conversations_state_activity now.
DROP INDEX conversations_state;
-- The keys due the longest, in the order a claim takes them (no sort of
-- every due key when a backlog builds up).
DROP INDEX queue_keys_due;
CREATE INDEX queue_keys_due ON queue_keys (queue, ready_at, key);
-- An echo or a resend finds its send by message.
CREATE INDEX outbox_message ON outbox (message_id);

-- Search by contact (name, username, Instagram id) through a full-text
-- index, as message text is (0005_search.sql says why FTS4): each word, the
-- last also as a prefix, found without reading every contact.
-- docid = contacts.id.
CREATE VIRTUAL TABLE contact_search USING fts4(name, username, channel_user_id, tokenize=unicode61 "remove_diacritics=2");
INSERT INTO contact_search (contact_search) VALUES ('automerge=8');

CREATE TRIGGER contact_search_insert AFTER INSERT ON contacts BEGIN
  INSERT INTO contact_search (docid, name, username, channel_user_id)
    VALUES (NEW.id, NEW.name, NEW.username, NEW.channel_user_id);
END;

-- Each inbound message upserts its contact: only a change reindexes it.
CREATE TRIGGER contact_search_update AFTER UPDATE OF name, username, channel_user_id ON contacts
  WHEN OLD.name IS NOT NEW.name OR OLD.username IS NOT NEW.username OR OLD.channel_user_id IS NOT NEW.channel_user_id
BEGIN
  DELETE FROM contact_search WHERE docid = OLD.id;
  INSERT INTO contact_search (docid, name, username, channel_user_id)
    VALUES (NEW.id, NEW.name, NEW.username, NEW.channel_user_id);
END;

CREATE TRIGGER contact_search_delete AFTER DELETE ON contacts BEGIN
  DELETE FROM contact_search WHERE docid = OLD.id;
END;

INSERT INTO contact_search (docid, name, username, channel_user_id)
  SELECT id, name, username, channel_user_id FROM contacts;

-- How many conversations carry each label (GET /api/v1/labels), kept by
-- triggers rather than counted over every labelled conversation.
CREATE TABLE label_counts (
  label TEXT PRIMARY KEY,
  n     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER label_counts_insert AFTER INSERT ON conversation_labels BEGIN
  INSERT INTO label_counts (label, n) VALUES (NEW.label, 1)
    ON CONFLICT (label) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER label_counts_delete AFTER DELETE ON conversation_labels BEGIN
  UPDATE label_counts SET n = n - 1 WHERE label = OLD.label;
  DELETE FROM label_counts WHERE label = OLD.label AND n <= 0;
END;

INSERT INTO label_counts (label, n) SELECT label, count(*) FROM conversation_labels GROUP BY label;

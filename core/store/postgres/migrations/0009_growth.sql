-- Queries that stay as fast with ten million messages as with ten
-- thousand (the same indexes as SQLite's 0011_growth.sql): each list the
-- console opens is read from an index in the order it is shown (newest
-- activity first) and stops at its limit, rather than sorting every
-- conversation.
CREATE INDEX conversations_activity ON conversations (last_activity_at, id);
CREATE INDEX conversations_state_activity ON conversations (state, last_activity_at, id);
CREATE INDEX conversations_integration_activity ON conversations (integration_id, last_activity_at, id);
CREATE INDEX conversations_state_integration_activity ON conversations (state, integration_id, last_activity_at, id);
DROP INDEX conversations_agent;
CREATE INDEX conversations_agent ON conversations (agent, state, last_activity_at, id);
CREATE INDEX conversations_agent_activity ON conversations (agent, last_activity_at, id);
-- The queue in serving order, without the conversations that are not in it.
CREATE INDEX conversations_queued ON conversations (priority DESC, queued_at, id) WHERE state = 'queued';
DROP INDEX conversations_state;
-- The keys due the longest, in the order a claim takes them.
DROP INDEX queue_keys_due;
CREATE INDEX queue_keys_due ON queue_keys (queue, ready_at, key COLLATE "C");
-- An echo or a resend finds its send by message.
CREATE INDEX outbox_message ON outbox (message_id, id);

-- How many conversations carry each label (GET /api/v1/labels), kept by a
-- trigger rather than counted over every labelled conversation.
CREATE TABLE label_counts (
  label TEXT PRIMARY KEY,
  n     BIGINT NOT NULL
);

CREATE FUNCTION label_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO label_counts (label, n) VALUES (NEW.label, 1)
      ON CONFLICT (label) DO UPDATE SET n = label_counts.n + 1;
    RETURN NEW;
  END IF;
  UPDATE label_counts SET n = n - 1 WHERE label = OLD.label;
  DELETE FROM label_counts WHERE label = OLD.label AND n <= 0;
  RETURN OLD;
END;
$$;

CREATE TRIGGER label_counts_keep AFTER INSERT OR DELETE ON conversation_labels
  FOR EACH ROW EXECUTE FUNCTION label_counts_keep();

INSERT INTO label_counts (label, n) SELECT label, count(*) FROM conversation_labels GROUP BY label;

-- Message search that costs as much with ten million messages as with ten
-- thousand, indexed off the writes that store messages.
--
-- The index is rebuilt in FTS4's order=DESC layout with prefix indexes of
-- 3, 4 and 5 letters. Measured on 2,000,000 messages (ORDER BY docid DESC
-- LIMIT 1000, what a search reads): in the default layout FTS4 reads a
-- term's whole doclist to give the newest docids first, 92 ms for the most
-- common word; order=DESC reads it from its newest end and stops at the
-- limit (2-3 ms). A prefix term ("ped*") otherwise merges the doclist of
-- every word it starts; a prefix index of its length is one doclist read
-- the same way (0.4 ms for 3 to 5 letters). The price is an index about
-- 1.7 times as large and about twice the work per indexed message.
--
-- That work no longer happens in the transaction that stores a message:
-- the insert trigger is gone, and the store's indexer
-- (core/store/sqlite/searchindex.go) indexes new messages past a cursor
-- in short transactions of its own, moments after they are stored, and
-- back-fills the messages stored before this migration, newest first, in
-- the background (the old index is dropped here; an install with millions
-- of messages starts at once, and search covers its older history once the
-- back-fill is done). Edits and unsends stay in the writing transaction
-- (they are rare): a message already indexed is indexed again or leaves
-- the index; one not yet indexed is left for the indexer, which reads it
-- as it is then.
DROP TRIGGER message_search_insert;
DROP TRIGGER message_search_update;
DROP TRIGGER message_search_delete;
DROP TABLE message_search;

CREATE VIRTUAL TABLE message_search USING fts4(body, tokenize=unicode61 "remove_diacritics=2", order=DESC, prefix="3,4,5");
INSERT INTO message_search (message_search) VALUES ('automerge=8');

-- What is indexed: the messages with backfill_to < id <= indexed_to.
-- Above indexed_to are the messages stored since the indexer's last pass;
-- at and below backfill_to, those the back-fill has not reached yet (0:
-- none left). Each pass moves them in the transaction that indexes, so a
-- crash loses no message and indexes none twice.
-- Every word indexed, as the index folds it (search_tokens is the index's
-- own tokenizer): a last word longer than the longest prefix index ("pedido"
-- still being typed) is searched as the words it starts, pedido OR pedidos,
-- each read from its newest end, rather than as a prefix, which FTS4 reads
-- by merging the whole doclist of every word it starts (measured on
-- 1,000,000 messages: 60-120 ms for a common word of 8 letters, 1-3 ms as
-- words). A word stays listed when its messages go (a word without
-- messages finds nothing).
CREATE VIRTUAL TABLE search_tokens USING fts3tokenize(unicode61, "remove_diacritics=2");
-- (The triggers skip the words already listed rather than INSERT OR
-- IGNORE them: an upsert's own conflict clause would override theirs.)
CREATE TABLE search_words (word TEXT PRIMARY KEY) WITHOUT ROWID;

CREATE TABLE search_progress (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  indexed_to  INTEGER NOT NULL,
  backfill_to INTEGER NOT NULL,
  -- Contacts at and below it are not back-filled yet (0: none left).
  contacts_backfill_to INTEGER NOT NULL
);
INSERT INTO search_progress (id, indexed_to, backfill_to, contacts_backfill_to)
  SELECT 1, coalesce(max(id), 0), coalesce(max(id), 0), (SELECT coalesce(max(id), 0) FROM contacts) FROM messages;

CREATE TRIGGER message_search_update AFTER UPDATE OF contents, deleted_at, author ON messages
  WHEN OLD.id <= (SELECT indexed_to FROM search_progress) AND OLD.id > (SELECT backfill_to FROM search_progress)
BEGIN
  DELETE FROM message_search WHERE docid = OLD.id;
  INSERT INTO message_search (docid, body)
    SELECT id, body FROM message_search_source WHERE id = NEW.id AND body IS NOT NULL;
  INSERT INTO search_words (word)
    SELECT DISTINCT t.token FROM message_search_source s, search_tokens t WHERE s.id = NEW.id AND t.input = s.body
      AND NOT EXISTS (SELECT 1 FROM search_words w WHERE w.word = t.token);
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
  DELETE FROM message_search WHERE docid = OLD.id;
END;

-- Contacts (0011_growth.sql) in the same layout, for the same reasons ("souza*"
-- merged the doclist of every word it starts). A new contact is still
-- indexed as it is stored (once per contact, not per message); the
-- contacts stored before this migration are back-filled by the indexer.
DROP TRIGGER contact_search_insert;
DROP TRIGGER contact_search_update;
DROP TRIGGER contact_search_delete;
DROP TABLE contact_search;

CREATE VIRTUAL TABLE contact_search USING fts4(name, username, channel_user_id, tokenize=unicode61 "remove_diacritics=2",
  order=DESC, prefix="3,4,5");
INSERT INTO contact_search (contact_search) VALUES ('automerge=8');

CREATE TRIGGER contact_search_insert AFTER INSERT ON contacts BEGIN
  INSERT INTO contact_search (docid, name, username, channel_user_id)
    VALUES (NEW.id, NEW.name, NEW.username, NEW.channel_user_id);
  INSERT INTO search_words (word)
    SELECT DISTINCT t.token FROM search_tokens t WHERE t.input = NEW.name || ' ' || NEW.username || ' ' || NEW.channel_user_id
      AND NOT EXISTS (SELECT 1 FROM search_words w WHERE w.word = t.token);
END;

-- Each inbound message upserts its contact: only a change reindexes it,
-- and only once the back-fill has indexed it.
CREATE TRIGGER contact_search_update AFTER UPDATE OF name, username, channel_user_id ON contacts
  WHEN (OLD.name IS NOT NEW.name OR OLD.username IS NOT NEW.username OR OLD.channel_user_id IS NOT NEW.channel_user_id)
    AND OLD.id > (SELECT contacts_backfill_to FROM search_progress)
BEGIN
  DELETE FROM contact_search WHERE docid = OLD.id;
  INSERT INTO contact_search (docid, name, username, channel_user_id)
    VALUES (NEW.id, NEW.name, NEW.username, NEW.channel_user_id);
  INSERT INTO search_words (word)
    SELECT DISTINCT t.token FROM search_tokens t WHERE t.input = NEW.name || ' ' || NEW.username || ' ' || NEW.channel_user_id
      AND NOT EXISTS (SELECT 1 FROM search_words w WHERE w.word = t.token);
END;

CREATE TRIGGER contact_search_delete AFTER DELETE ON contacts BEGIN
  DELETE FROM contact_search WHERE docid = OLD.id;
END;

-- Contacts indexed for search off the exchange, as messages are since
-- 0012: every webhook from someone new stored a contact, and the insert
-- trigger indexed it inside the exchange's transaction (three prefix
-- indexes and the word list: a profile of 1,000 exchanges a second put
-- contacts' indexing at a fifth of the writer's time). The indexer
-- (core/store/sqlite/searchindex.go) now indexes new contacts past a
-- cursor of their own, in the pass that indexes new messages, as they are
-- then: a name the exchange's profile lookup brought is indexed once, not
-- indexed and then indexed again.
--
-- What is indexed: the contacts with contacts_backfill_to < id <=
-- contacts_indexed_to. Every contact stored so far is indexed already (or
-- left to the back-fill), so the cursor starts at the newest.
ALTER TABLE search_progress ADD COLUMN contacts_indexed_to INTEGER NOT NULL DEFAULT 0;
UPDATE search_progress SET contacts_indexed_to = (SELECT coalesce(max(id), 0) FROM contacts);

DROP TRIGGER contact_search_insert;

-- A change to an indexed contact is indexed in the writing transaction
-- (renames are rare); one not yet indexed is left to the indexer, which
-- reads it as it is when it gets there.
DROP TRIGGER contact_search_update;
CREATE TRIGGER contact_search_update AFTER UPDATE OF name, username, channel_user_id ON contacts
  WHEN (OLD.name IS NOT NEW.name OR OLD.username IS NOT NEW.username OR OLD.channel_user_id IS NOT NEW.channel_user_id)
    AND OLD.id <= (SELECT contacts_indexed_to FROM search_progress)
    AND OLD.id > (SELECT contacts_backfill_to FROM search_progress)
BEGIN
  DELETE FROM contact_search WHERE docid = OLD.id;
  INSERT INTO contact_search (docid, name, username, channel_user_id)
    VALUES (NEW.id, NEW.name, NEW.username, NEW.channel_user_id);
  INSERT INTO search_words (word)
    SELECT DISTINCT t.token FROM search_tokens t WHERE t.input = NEW.name || ' ' || NEW.username || ' ' || NEW.channel_user_id
      AND NOT EXISTS (SELECT 1 FROM search_words w WHERE w.word = t.token);
END;

-- Search that costs about the same at ten million messages as at ten
-- thousand: the full-text indexes in shards of 262,144 ids, and a list of
-- the shards each word of the messages is in.
--
-- FTS4 reads a term's doclist from each segment whole, however few of its
-- docids a query keeps (this build of SQLite loads a segment's leaf in
-- one piece): the most common word's doclists came to tens of megabytes at
-- ten million messages, 15 ms for every search that named it, though the
-- search keeps the newest 1,000 matches only. Each table now keeps its
-- index in shards by id (FTS4's languageid: every shard has segments of
-- its own, and a query reads one shard's), shard = id >> 18, so a doclist
-- never holds more than 262,144 rows; a search reads the newest shards
-- first and stops once it has its matches
-- (core/store/sqlite/conversations.go).
--
-- Each shard a search looks into costs it 60-100 us at ten million
-- messages, whatever it finds there: a word that few messages hold would
-- have it look into every shard, and one that none holds too.
-- message_search_shards lists the shards each indexed word is in, and
-- each start of 3, 4 and 5 letters of one ("souz*", the prefix indexes'
-- lengths), written in the indexer's transactions with the rows: a search
-- looks only into the shards that hold all its words, newest first.
-- Smaller shards read less of a common word and more shards for a rare
-- one: at 65,536 ids a word in 418 of ten million messages was in 142 of
-- 153 shards, 20 ms. Contacts have no such list: far fewer than messages
-- (four shards at a million), most of their words (ids, usernames) are
-- their own, which would make the list as long as the index, and a
-- search looks into each of their shards.
--
-- A word new to a shard is new to the word list (search_words) or already
-- in it, and its starts may be new to the shard: the trigger on the shard
-- list adds them, so the indexer tokenizes each message once, and writes a
-- start only for a word new to the shard.
--
-- The indexes are rebuilt: the old ones are dropped, and the indexer's
-- back-fill indexes every message and contact again, newest first, in the
-- background (search covers the newer history meanwhile, as after 0012).
-- The word list (search_words) is kept: every word in it is indexed
-- again.
DROP TRIGGER message_search_update;
DROP TRIGGER message_search_delete;
DROP TABLE message_search;

CREATE VIRTUAL TABLE message_search USING fts4(body, tokenize=unicode61 "remove_diacritics=2", order=DESC, prefix="3,4,5",
  languageid="shard");
INSERT INTO message_search (message_search) VALUES ('automerge=8');

CREATE TABLE message_search_shards (
  word  TEXT NOT NULL,
  shard INTEGER NOT NULL,
  PRIMARY KEY (word, shard)
) WITHOUT ROWID;

CREATE TRIGGER message_search_shards_word AFTER INSERT ON message_search_shards WHEN substr(NEW.word, -1) <> '*' BEGIN
  INSERT INTO search_words (word) SELECT NEW.word WHERE NOT EXISTS (SELECT 1 FROM search_words w WHERE w.word = NEW.word);
  INSERT INTO message_search_shards (word, shard)
    SELECT p.prefix, NEW.shard FROM (SELECT substr(NEW.word, 1, 3) || '*' AS prefix WHERE length(NEW.word) >= 3
      UNION SELECT substr(NEW.word, 1, 4) || '*' WHERE length(NEW.word) >= 4
      UNION SELECT substr(NEW.word, 1, 5) || '*' WHERE length(NEW.word) >= 5) p
    WHERE NOT EXISTS (SELECT 1 FROM message_search_shards w WHERE w.word = p.prefix AND w.shard = NEW.shard);
END;

-- Everything indexed so far is back-filled again.
UPDATE search_progress SET backfill_to = indexed_to;

CREATE TRIGGER message_search_update AFTER UPDATE OF contents, deleted_at, author ON messages
  WHEN OLD.id <= (SELECT indexed_to FROM search_progress) AND OLD.id > (SELECT backfill_to FROM search_progress)
BEGIN
  DELETE FROM message_search WHERE docid = OLD.id;
  INSERT INTO message_search (docid, body, shard)
    SELECT id, body, id >> 18 FROM message_search_source WHERE id = NEW.id AND body IS NOT NULL;
  INSERT INTO message_search_shards (word, shard)
    SELECT DISTINCT t.token, NEW.id >> 18 FROM message_search_source s, search_tokens t WHERE s.id = NEW.id AND t.input = s.body
      AND NOT EXISTS (SELECT 1 FROM message_search_shards w WHERE w.word = t.token AND w.shard = NEW.id >> 18);
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
  DELETE FROM message_search WHERE docid = OLD.id;
END;

DROP TRIGGER contact_search_update;
DROP TRIGGER contact_search_delete;
DROP TABLE contact_search;

CREATE VIRTUAL TABLE contact_search USING fts4(name, username, channel_user_id, tokenize=unicode61 "remove_diacritics=2",
  order=DESC, prefix="3,4,5", languageid="shard");
INSERT INTO contact_search (contact_search) VALUES ('automerge=8');

-- Every contact is back-filled again, those stored late included.
UPDATE search_progress SET contacts_backfill_to = contacts_indexed_to;
DELETE FROM contact_search_late;

CREATE TRIGGER contact_search_update AFTER UPDATE OF name, username, channel_user_id ON contacts
  WHEN (OLD.name IS NOT NEW.name OR OLD.username IS NOT NEW.username OR OLD.channel_user_id IS NOT NEW.channel_user_id)
    AND OLD.id <= (SELECT contacts_indexed_to FROM search_progress)
    AND OLD.id > (SELECT contacts_backfill_to FROM search_progress)
BEGIN
  DELETE FROM contact_search WHERE docid = OLD.id;
  INSERT INTO contact_search (docid, name, username, channel_user_id, shard)
    VALUES (NEW.id, NEW.name, NEW.username, NEW.channel_user_id, NEW.id >> 18);
  INSERT INTO search_words (word)
    SELECT DISTINCT t.token FROM search_tokens t WHERE t.input = NEW.name || ' ' || NEW.username || ' ' || NEW.channel_user_id
      AND NOT EXISTS (SELECT 1 FROM search_words w WHERE w.word = t.token);
END;

CREATE TRIGGER contact_search_delete AFTER DELETE ON contacts BEGIN
  DELETE FROM contact_search WHERE docid = OLD.id;
END;

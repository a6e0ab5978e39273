-- Search over the text of messages (GET /api/v1/conversations?q=).
--
-- search holds a message's searchable words, folded (lower case, without
-- diacritics), as the store computes them in Go (core/store/internal/
-- fulltext, the same rules SQLite's unicode61 tokenizer follows): no
-- extension (unaccent would need CREATE on a schema and behaves with the
-- server's locale), no text search configuration, and the same words as
-- SQLite whatever the server's locale. Every write of a message's contents
-- or deletion sets it; an empty vector for what is not searchable (deleted
-- messages, the system's notes).
--
-- NULL means "not indexed yet": rows written before this migration, or
-- copied in by `conversa migrate`. The store indexes them when it opens
-- (messages_unsearched finds them without a scan).
ALTER TABLE messages ADD COLUMN search tsvector;
CREATE INDEX messages_search ON messages USING gin (search);
CREATE INDEX messages_unsearched ON messages (id) WHERE search IS NULL;

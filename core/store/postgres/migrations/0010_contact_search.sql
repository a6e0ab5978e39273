-- Search by contact (name, username, Instagram id) through a full-text
-- index rather than an ILIKE over every conversation: the same words as
-- SQLite's contact_search (0011_growth.sql there), each word, the last
-- also as a prefix, found without reading every contact.
--
-- search holds the contact's folded words (core/store/internal/fulltext,
-- as messages.search does: migration 0003), written by the store with
-- every write of name, username or channel_user_id. The folding is Go's,
-- not SQL's, so the existing contacts are indexed by the store when it
-- opens: NULL means "not indexed yet" (rows written before this
-- migration, or copied in by `conversa migrate`), and contacts_unsearched
-- finds them without a scan.
ALTER TABLE contacts ADD COLUMN search tsvector;
CREATE INDEX contacts_search ON contacts USING gin (search);
CREATE INDEX contacts_unsearched ON contacts (id) WHERE search IS NULL;

-- What a search's words match that few rows have: the newest $2 contacts
-- (contacts_matching) and messages (messages_matching) the tsquery $1
-- matches, read from their full-text index. The store asks these only of
-- words it did not find often enough among the newest rows (see listQuery
-- in conversations.go): few rows have them, and reading each match from
-- the index costs less than reading on. The planner cannot know that: it
-- has no frequency for a prefix (a search's last word usually is one),
-- and guessing the word common it would walk every row newest first,
-- which for a rare word reads the whole table. The settings leave it the
-- index alone, for this statement only.
CREATE FUNCTION contacts_matching(tsquery, bigint) RETURNS SETOF bigint
  LANGUAGE sql STABLE
  SET enable_seqscan = off SET enable_indexscan = off
  AS $$ SELECT ct.id FROM contacts ct WHERE ct.search @@ $1 ORDER BY ct.id DESC LIMIT $2 $$;

CREATE FUNCTION messages_matching(tsquery, bigint) RETURNS TABLE (conversation_id bigint, id bigint)
  LANGUAGE sql STABLE
  SET enable_seqscan = off SET enable_indexscan = off
  AS $$ SELECT m.conversation_id, m.id FROM messages m WHERE m.search @@ $1 ORDER BY m.id DESC LIMIT $2 $$;

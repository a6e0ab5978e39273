-- Search over the text of messages (GET /api/v1/conversations?q=).
--
-- FTS4, not FTS5: mattn/go-sqlite3 compiles FTS3/FTS4 into every build but
-- FTS5 only under the sqlite_fts5 build tag, which every go build, run, test
-- and vet (and every operator's go install) would then need; one forgotten
-- tag and the server would refuse to start at this migration. FTS4 has what
-- search needs: the unicode61 tokenizer with diacritics removed ("nao" finds
-- "Não"), prefix queries and a full-text index.
--
-- One row per searchable message, docid = messages.id. What is searchable is
-- message_search_source: the text and caption of each content (a story
-- reply's text included) of a message that is not deleted and not one of the
-- system's automatic notes (core/store/internal/fulltext says the same for
-- PostgreSQL and the snippets). Triggers keep the index in step with every
-- write, whichever statement makes it: a deleted message leaves the index,
-- an edited one is indexed again.
CREATE VIRTUAL TABLE message_search USING fts4(body, tokenize=unicode61 "remove_diacritics=2");
-- Merge the index's segments a little with each write (a setting the table
-- keeps) rather than all at once when a level fills, which on a large
-- install would hold the one writer for seconds.
INSERT INTO message_search (message_search) VALUES ('automerge=8');

CREATE VIEW message_search_source AS
  SELECT m.id,
    (SELECT group_concat(v, char(10) ORDER BY k, f) FROM (
       SELECT j.key AS k, 0 AS f, json_extract(j.value, '$.text') AS v
         FROM json_each(CASE WHEN json_valid(m.contents) THEN m.contents ELSE '[]' END) j
       UNION ALL
       SELECT j.key, 1, json_extract(j.value, '$.caption')
         FROM json_each(CASE WHEN json_valid(m.contents) THEN m.contents ELSE '[]' END) j)
     WHERE typeof(v) = 'text' AND v <> '') AS body
  FROM messages m
  WHERE m.author <> 'system' AND m.deleted_at IS NULL;

CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
  INSERT INTO message_search (docid, body)
    SELECT id, body FROM message_search_source WHERE id = NEW.id AND body IS NOT NULL;
END;

CREATE TRIGGER message_search_update AFTER UPDATE OF contents, deleted_at, author ON messages BEGIN
  DELETE FROM message_search WHERE docid = OLD.id;
  INSERT INTO message_search (docid, body)
    SELECT id, body FROM message_search_source WHERE id = NEW.id AND body IS NOT NULL;
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
  DELETE FROM message_search WHERE docid = OLD.id;
END;

INSERT INTO message_search (docid, body)
  SELECT id, body FROM message_search_source WHERE body IS NOT NULL;

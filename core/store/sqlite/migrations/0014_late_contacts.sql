-- Contacts stored below the indexer's cursor. A new user's contact id is
-- now reserved before the transaction that stores it (store.IDReserver:
-- the assistant is given it first), so contacts no longer arrive in id
-- order: one reserved earlier can be stored after the indexer has moved
-- contacts_indexed_to past a later one, and the forward pass, which
-- indexes the ids above the cursor, would never see it. Such a contact is
-- listed here by the trigger below, and the indexer's next pass indexes
-- it and takes it off the list (core/store/sqlite/searchindex.go). The
-- list stays short: only contacts whose transaction was overtaken, in the
-- milliseconds an assistant takes, are on it.
CREATE TABLE contact_search_late (
  id INTEGER PRIMARY KEY
);

CREATE TRIGGER contact_search_late_insert AFTER INSERT ON contacts
  WHEN NEW.id <= (SELECT contacts_indexed_to FROM search_progress)
BEGIN
  INSERT OR IGNORE INTO contact_search_late (id) VALUES (NEW.id);
END;

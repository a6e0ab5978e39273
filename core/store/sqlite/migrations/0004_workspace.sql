-- The agent's workspace: private notes, labels, canned responses, and a
-- contact's earlier conversations.

-- A note an agent wrote for the other agents; never sent.
ALTER TABLE messages ADD COLUMN private INTEGER NOT NULL DEFAULT 0;

CREATE TABLE conversation_labels (
  conversation_id INTEGER NOT NULL REFERENCES conversations (id),
  label           TEXT NOT NULL,
  PRIMARY KEY (conversation_id, label)
) WITHOUT ROWID;
-- Filtering and counting by label.
CREATE INDEX conversation_labels_label ON conversation_labels (label, conversation_id);

CREATE TABLE canned_responses (
  id         INTEGER PRIMARY KEY,
  shortcut   TEXT NOT NULL,
  text       TEXT NOT NULL,
  squad      TEXT NOT NULL DEFAULT '',     -- '': every agent
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (squad, shortcut)
);

-- A contact's conversations, ended ones too.
CREATE INDEX conversations_contact ON conversations (contact_id, id);

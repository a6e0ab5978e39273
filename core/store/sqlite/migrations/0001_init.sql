-- Times are Unix milliseconds (UTC); 0 or NULL means "never".

CREATE TABLE integrations (
  id                         TEXT PRIMARY KEY,
  name                       TEXT NOT NULL,
  channel                    TEXT NOT NULL,
  assistant                  TEXT NOT NULL DEFAULT '',
  squad                      TEXT NOT NULL,
  inactivity_minutes         INTEGER NOT NULL,
  unsupported_media_messages TEXT NOT NULL DEFAULT '[]',
  homologation_users         TEXT NOT NULL DEFAULT '[]',
  settings                   TEXT NOT NULL DEFAULT '{}',
  enabled                    INTEGER NOT NULL DEFAULT 1,
  source                     TEXT NOT NULL,
  -- Why the channel's credentials stopped working ('' when they work).
  needs_reauth               TEXT NOT NULL DEFAULT '',
  created_at                 INTEGER NOT NULL,
  updated_at                 INTEGER NOT NULL
);

CREATE TABLE contacts (
  id              INTEGER PRIMARY KEY,
  integration_id  TEXT NOT NULL,
  channel_user_id TEXT NOT NULL,
  username        TEXT NOT NULL DEFAULT '',
  name            TEXT NOT NULL DEFAULT '',
  avatar_url      TEXT NOT NULL DEFAULT '',
  -- The messaging window opens at the user's last message.
  last_inbound_at INTEGER NOT NULL DEFAULT 0,
  profile_at      INTEGER NOT NULL DEFAULT 0,
  profile_error   TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  UNIQUE (integration_id, channel_user_id)
);

CREATE TABLE conversations (
  id               INTEGER PRIMARY KEY,
  integration_id   TEXT NOT NULL,
  contact_id       INTEGER NOT NULL REFERENCES contacts (id),
  state            TEXT NOT NULL,            -- bot, queued, assigned, ended
  squad            TEXT NOT NULL DEFAULT '',
  agent            TEXT NOT NULL DEFAULT '',
  -- An agent routing.lua named: they get the conversation when they can.
  preferred_agent  TEXT NOT NULL DEFAULT '',
  origin           TEXT NOT NULL,            -- direct, story_mention, story_reply
  priority         INTEGER NOT NULL DEFAULT 0,
  session          BLOB,                     -- the assistant's opaque state
  started_at       INTEGER NOT NULL,
  last_activity_at INTEGER NOT NULL,
  last_inbound_at  INTEGER NOT NULL DEFAULT 0,
  queued_at        INTEGER,
  assigned_at      INTEGER,
  ended_at         INTEGER,
  end_reason       TEXT NOT NULL DEFAULT ''
);
-- A contact has at most one open conversation: the database, not a lock,
-- keeps concurrent webhooks from opening two.
CREATE UNIQUE INDEX conversations_open ON conversations (contact_id) WHERE state <> 'ended';
CREATE INDEX conversations_state ON conversations (state, squad, queued_at);
CREATE INDEX conversations_agent ON conversations (agent, state);
CREATE INDEX conversations_inactivity ON conversations (last_inbound_at) WHERE state <> 'ended';

CREATE TABLE messages (
  id                  INTEGER PRIMARY KEY,
  conversation_id     INTEGER NOT NULL REFERENCES conversations (id),
  integration_id      TEXT NOT NULL,
  direction           TEXT NOT NULL,         -- in, out
  author              TEXT NOT NULL,         -- contact, assistant, agent:<login>, system, business
  contents            TEXT NOT NULL,         -- JSON list of contents
  status              TEXT NOT NULL,
  error               TEXT NOT NULL DEFAULT '',
  provider_message_id TEXT NOT NULL DEFAULT '',
  reply_to            TEXT NOT NULL DEFAULT '',
  deleted_at          INTEGER,
  edited_at           INTEGER,
  status_at           INTEGER,
  -- Set once an inbound message has been fully dealt with (routed, answered):
  -- a redelivery under another event id is then not answered twice.
  handled_at          INTEGER,
  created_at          INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- Every provider id a message is known by (a long text may go out as several
-- provider messages). Deduplicates inbound messages and matches echoes,
-- statuses, reactions and unsends to their message.
CREATE TABLE provider_ids (
  integration_id TEXT NOT NULL,
  provider_id    TEXT NOT NULL,
  message_id     INTEGER NOT NULL REFERENCES messages (id),
  PRIMARY KEY (integration_id, provider_id)
);

CREATE TABLE reactions (
  message_id INTEGER NOT NULL REFERENCES messages (id),
  by         TEXT NOT NULL,
  emoji      TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (message_id, by)
);

-- Received events, committed before the source is acknowledged.
CREATE TABLE inbox (
  id              INTEGER PRIMARY KEY,
  integration_id  TEXT NOT NULL,
  dedupe_key      TEXT NOT NULL,
  partition_key   TEXT NOT NULL,             -- events of one contact are processed in order
  kind            TEXT NOT NULL,
  event           TEXT NOT NULL,             -- the normalized event (JSON)
  raw             BLOB,                      -- the provider's JSON for it
  received_at     INTEGER NOT NULL,
  processed_at    INTEGER,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  note            TEXT NOT NULL DEFAULT '',
  UNIQUE (integration_id, dedupe_key)
);
CREATE INDEX inbox_pending ON inbox (id) WHERE processed_at IS NULL;

-- Messages to send, committed before any send is attempted.
CREATE TABLE outbox (
  id                 INTEGER PRIMARY KEY,
  message_id         INTEGER NOT NULL REFERENCES messages (id),
  integration_id     TEXT NOT NULL,
  conversation_id    INTEGER NOT NULL,
  idempotency_key    TEXT NOT NULL UNIQUE,
  state              TEXT NOT NULL,          -- pending, sent, failed
  attempts           INTEGER NOT NULL DEFAULT 0,
  next_attempt_at    INTEGER NOT NULL DEFAULT 0,
  -- When the last attempt may have reached the provider (timeout, 5xx): an
  -- echo must be looked for before sending again.
  uncertain_since    INTEGER,
  last_error         TEXT NOT NULL DEFAULT '',
  created_at         INTEGER NOT NULL,
  done_at            INTEGER
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE state = 'pending';

CREATE TABLE agents (
  id               TEXT PRIMARY KEY,         -- the login
  name             TEXT NOT NULL,
  role             TEXT NOT NULL,            -- admin, agent
  password_hash    TEXT NOT NULL,
  squads           TEXT NOT NULL DEFAULT '[]',
  max_chats        INTEGER NOT NULL DEFAULT 8,
  status           TEXT NOT NULL DEFAULT 'offline',
  status_at        INTEGER NOT NULL DEFAULT 0,
  -- Ties in assignment go to who has waited longest since their last chat.
  last_assigned_at INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL
);

CREATE TABLE auth_sessions (
  token_hash   TEXT PRIMARY KEY,             -- SHA-256 of the bearer token
  agent_id     TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  csrf_token   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
);

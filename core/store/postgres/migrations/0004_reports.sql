-- Reports select conversations by when they started.
CREATE INDEX conversations_started ON conversations (started_at);

-- routing.lua: decides where a contact's message goes.
--
-- Conversa calls route(ev) for each message a contact sends while the
-- conversation is with the assistant (state "bot"): the first message of a
-- conversation and every later one until a human takes over. Once a
-- conversation is queued for or assigned to a human, it stays with humans and
-- route is not called.
--
-- route returns one of:
--   nil                                          the built-in default (this file)
--   {to = "assistant"}                           the integration's assistant answers
--   {to = "squad", squad = "vendas", priority = 1}
--                                                queue for a squad; squad defaults
--                                                to the integration's, priority to 0
--                                                (higher is served first)
--   {to = "agent", agent = "ana"}                straight to the agent with that login
--   {to = "none"}                                record the message, answer nothing
--
-- The table ev is described in README.md. A run-time error, a time-out or a
-- result of another shape makes Conversa log the problem (with this file's
-- name and the line) and use the built-in default for that message.

-- The built-in default: story mentions and story replies go to the
-- integration's squad, because they are usually meant for a person; every
-- other message goes to the assistant when the integration has one, else to
-- the squad (returning nil leaves that choice to Conversa).
function route(ev)
  local kind = ev.message.type
  if kind == "story_mention" or kind == "story_reply" then
    return {to = "squad", squad = ev.integration.squad}
  end
  return nil
end

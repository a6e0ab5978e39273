-- unsupported_media.lua: what to answer when a contact sends something the
-- assistant cannot read.
--
-- Conversa calls reply(ev) when a message meant for the assistant holds only
-- content the assistant does not take: images (Instagram delivers stickers as
-- images too), files, shares, locations and anything the channel marks
-- "unsupported" (then ev.message.original_type says what it was, for example
-- "location"). The texts returned are sent back in order.
--
-- reply returns a list of strings (at most 10; an empty list answers
-- nothing), or nil for the built-in default (this file). A run-time error, a
-- time-out or a result of another shape makes Conversa log the problem (with
-- this file's name and the line) and use the built-in default.

-- The built-in default: the integration's unsupported_media_messages, as
-- configured for it (config file or console).
function reply(ev)
  return ev.integration.unsupported_media_messages
end

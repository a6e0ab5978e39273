-- text_conversion.lua: turns a reply component into plain text.
--
-- Assistants may answer with quick replies, a select or an option list. When
-- the channel cannot show that component (Zenvia never can; Meta shows quick
-- replies natively only up to 13 options with titles of up to 20 characters),
-- Conversa calls convert(component, channel) and sends the text it returns.
--
--   component = {type = "quick_replies" | "select" | "option_list",
--                text = "the prompt",
--                options = {{title = "Sales", payload = "SALES"}, ...}}
--   channel   = the channel plugin's name: "zenvia", "meta", ...
--
-- convert returns a non-empty string, or nil for the built-in default (this
-- file). A run-time error, a time-out or a result of another shape makes
-- Conversa log the problem (with this file's name and the line) and use the
-- built-in default.

-- The built-in default: the prompt, then the options as a numbered list, one
-- per line:
--
--   How can we help?
--   1. Sales
--   2. Support
--
-- An empty prompt gives just the list. An option without a title shows its
-- payload.
function convert(component, channel)
  local lines = {}
  if component.text ~= "" then
    lines[#lines + 1] = component.text
  end
  for i, option in ipairs(component.options) do
    local label = option.title
    if label == "" then
      label = option.payload
    end
    lines[#lines + 1] = i .. ". " .. label
  end
  return table.concat(lines, "\n")
end

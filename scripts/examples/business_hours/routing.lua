-- example: business_hours (routing.lua)
-- Opening hours in São Paulo: Monday to Friday 9:00 to 18:00, Saturday 9:00
-- to 13:00. In hours, messages go straight to the "atendimento" squad. Out of
-- hours, the contact is told when we open, and the conversation is queued
-- for the "manha" squad, the morning shift, which starts with it.
local ZONE = "America/Sao_Paulo"
local HOURS = "mon-fri 09:00-18:00; sat 09:00-13:00"

-- When we open next, seen from an out-of-hours moment.
local function opening(t)
  local sunday, saturday = 1, 7 -- conversa.clock's wday: 1 is Sunday
  if t.wday ~= sunday and t.hour < 9 then
    return "today at 9:00"
  end
  if t.wday == saturday then
    return "on Monday at 9:00"
  end
  return "tomorrow at 9:00"
end

function route(ev)
  if conversa.in_hours(HOURS, ZONE) then
    return {to = "squad", squad = "atendimento"}
  end
  local when = opening(conversa.clock(ZONE))
  return {
    to = "squad",
    squad = "manha",
    reply = "Thanks for your message! We are closed now and open " .. when ..
      ". Your conversation is in the queue and the first of us in will answer.",
  }
end

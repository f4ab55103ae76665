-- The Lambda handler entry (`_HANDLER=main.handler`) and `rcpt invoke`.
local handler = require("rcpt.handler")

return {
  handler = function(event, context)
    local response = handler.handle(event, context)
    return response
  end,
}

// Package scripts holds Conversa's three Lua hooks as shipped: routing.lua,
// text_conversion.lua and unsupported_media.lua. They are the built-in
// defaults the scripting engine runs when an operator's scripts directory
// lacks a file or a function, and they are written to be copied there and
// edited. README.md is the operator's documentation of the hooks.
package scripts

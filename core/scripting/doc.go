// Package scripting runs the operator's Lua hooks (gopher-lua): route(ev) in
// routing.lua, convert(component, channel) in text_conversion.lua and
// reply(ev) in unsupported_media.lua. A missing file or function means the
// built-in default, which is the same file shipped in scripts/.
//
// An operator edits these on a live server, so a script can never break a
// caller. A compile error keeps the running version; a run-time error, a
// time-out or a result of the wrong shape makes that call answer with the
// built-in default; all are logged with the script and line and reported by
// Statuses (GET /api/v1/scripts).
//
// Sandbox: base (no load, loadstring, dofile, require, module, getfenv,
// setfenv, collectgarbage, rawget, rawset, rawequal, newproxy),
// string, table and math, a time-only os (time, date, clock, difftime)
// and conversa.log. Each call runs the script in a fresh global table whose
// misses fall through to read-only library tables, so nothing one call sets
// or replaces reaches the next; ev and component are read-only copies.
//
// Limits: a deadline per call (Options.Timeout, checked before every VM
// instruction and every few thousand steps of pattern matching, which is
// done here rather than by gopher-lua for that reason); a bounded call stack
// and value stack; string.rep, string.format, string.gsub, table.concat and
// the .. operator refuse results over 1 MiB, and one call may build at most
// 8 MiB of strings in all; a table's array part stops growing at 2^18
// slots (gopher-lua's MaxArrayIndex, a library-wide variable, lowered once:
// above it t[i] = v falls to the hash part instead of allocating the gap);
// inputs are clipped to 64 KiB per string and 100 items per list; a call logs
// at most 50 lines. gopher-lua has no memory limit, and its only memory knob
// (SetMx) exits the process, so it is never used. Its concatenation is one
// VM instruction joining every operand, unchecked, so compile rewrites each
// .. into a call of a guarded Go function (concat.go) and refuses a
// compiled script that kept one. What else a call allocates (tables) is
// bounded by the deadline; GOMEMLIMIT is the process's backstop.
//
// Scripts compile once per version; the compiled prototypes are shared by a
// bounded pool of Lua states. A reload that changes anything replaces the
// scripts and the pool together as one generation; calls in flight finish on
// the old one. With Options.Watch the dir is watched (fsnotify, debounced),
// so a saved file takes effect within a second.
//
// Check and CheckSource compile and dry-run scripts for `conversa check` and
// for a console's live validation.
package scripting

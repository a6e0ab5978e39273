package scripts

import "embed"

// FS holds the default hook scripts and README.md, as shipped. The scripting
// engine reads its defaults from here, so these files are the built-in
// behaviour, not a copy of it.
//
//go:embed routing.lua text_conversion.lua unsupported_media.lua README.md
var FS embed.FS

// Names are the hook scripts, in the order the engine reports them.
func Names() []string {
	return []string{"routing.lua", "text_conversion.lua", "unsupported_media.lua"}
}

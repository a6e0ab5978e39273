package scripts

import (
	"embed"
	"io/fs"
)

// FS holds the default hook scripts, their test cases (tests/) and
// README.md, as shipped. The scripting engine reads its defaults from here,
// so these files are the built-in behaviour, not a copy of it.
//
//go:embed routing.lua text_conversion.lua unsupported_media.lua README.md tests/*.json
var FS embed.FS

// Names are the hook scripts, in the order the engine reports them.
func Names() []string {
	return []string{"routing.lua", "text_conversion.lua", "unsupported_media.lua"}
}

// Cases are the test cases of the default scripts (tests/*.json), which
// `conversa scripts test` and the console run when an operator has none.
func Cases() fs.FS {
	sub, err := fs.Sub(FS, "tests")
	if err != nil {
		panic(err) // the directory is embedded: this cannot fail
	}
	return sub
}

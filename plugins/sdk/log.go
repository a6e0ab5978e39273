package sdk

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// processStderr is the process's own standard error, taken before Serve
// replaces os.Stderr with a pipe to the host's stdio stream. The host parses
// what arrives on the real stderr as structured log lines.
var processStderr io.Writer = os.Stderr

// Logger returns a slog logger for plugin code. It writes hclog's JSON
// format to the process's standard error, which the host parses and re-emits
// in its own log at the same level, with the plugin's name and the fields
// given.
func Logger() *slog.Logger { return newLogger(processStderr) }

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// The exact layout the host's log parser accepts.
				a = slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.MessageKey:
				a.Key = "@message"
			case slog.LevelKey:
				a.Key = "@level"
				a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
			}
			return a
		},
	}))
}

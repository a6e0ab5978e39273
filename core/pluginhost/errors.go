package pluginhost

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknown is wrapped by the error for a plugin name nobody provides.
	ErrUnknown = errors.New("unknown plugin")
	// ErrDown is wrapped by the error for a call made while the plugin's
	// process is not running (starting, restarting, failing, or the host
	// is closing).
	ErrDown = errors.New("plugin not running")
)

// DownError is the error of a call that never reached the plugin: its
// process was not running, the name is unknown, or the host is closing. The
// request was not handed to the plugin, so the caller may retry it without
// wondering whether the plugin acted on it. An RPC that was made and failed
// returns another error, one without NotAttempted: the plugin may have acted
// (a Send may have reached the provider).
type DownError struct {
	Plugin string
	// State is the plugin's state when the call was refused; empty for an
	// unknown name.
	State string
	// Reason says why, for an operator.
	Reason string
	// Err is what the error wraps: ErrUnknown or ErrDown, and the caller's
	// context error when it gave up waiting for a start.
	Err error
}

func (e *DownError) Error() string {
	if e.State == "" {
		return e.Reason
	}
	return fmt.Sprintf("plugin %q is %s: %s", e.Plugin, e.State, e.Reason)
}

// NotAttempted reports that the request was not handed to the plugin.
func (e *DownError) NotAttempted() bool { return true }

func (e *DownError) Unwrap() error { return e.Err }

// refusedError is a call the host refused without making it, for a reason
// other than the plugin being down (a plugin of the wrong kind).
type refusedError struct{ err error }

func (e refusedError) Error() string      { return e.err.Error() }
func (e refusedError) Unwrap() error      { return e.err }
func (e refusedError) NotAttempted() bool { return true }

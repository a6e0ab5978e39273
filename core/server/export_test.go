package server

import "time"

// SetHeartbeat changes how often idle event streams get a comment, for the
// test that checks they do; it returns the function that restores it.
func SetHeartbeat(d time.Duration) (restore func()) {
	old := heartbeat
	heartbeat = d
	return func() { heartbeat = old }
}

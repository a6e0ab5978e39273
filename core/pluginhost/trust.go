package pluginhost

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Trust: a third-party plugin starts only when the SHA-256 of its
// executable matches the pin an operator recorded (`conversa plugins trust
// NAME`, kept in the database by Options.Pin). Built-ins are part of the
// conversa binary and trusted with it.
//
// The check is made three times:
//   - before each start (verify): a plugin without a pin, or whose
//     executable no longer matches it, is not started and shows as
//     untrusted with the reason; the pin and the file are looked at again
//     every trustEvery, so trusting it later starts it, with no restart of
//     the server;
//   - right before the fork, on the very path executed, by go-plugin's
//     SecureConfig (procRunner.Start): the window between the check and the
//     exec is as short as it can be. (go-plugin's own check, made in
//     Client.Start, cannot be used: with a RunnerFunc it hashes the path of
//     an empty placeholder command, not the executable.) SecureConfig cannot
//     close that window: the plugins directory must be writable only by the
//     service's own user;
//   - every trustEvery while the plugin runs: a pin removed (`conversa plugins
//     untrust`) or an executable replaced by bytes that do not match the pin
//     stops the process, which then shows as untrusted. A new executable that
//     matches a new pin (trusted after an upgrade) is started in its place.

// sumCache remembers the digests of executables by file identity, so the
// periodic checks do not read an unchanged file again. The check right
// before the fork always reads the file.
type sumCache struct {
	mu   sync.Mutex
	sums map[string]cachedSum
}

type cachedSum struct {
	fi  os.FileInfo
	sum []byte
}

// Sum is the SHA-256 of the file at path.
func Sum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func (c *sumCache) sum(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	got, ok := c.sums[path]
	c.mu.Unlock()
	// The same file (not one renamed over it), of the same size and time.
	if ok && os.SameFile(got.fi, fi) && got.fi.Size() == fi.Size() && got.fi.ModTime().Equal(fi.ModTime()) {
		return got.sum, nil
	}
	sum, err := Sum(path)
	if err != nil {
		return nil, err
	}
	if again, err := os.Stat(path); err != nil || !os.SameFile(again, fi) || again.Size() != fi.Size() || !again.ModTime().Equal(fi.ModTime()) {
		return sum, nil // replaced while it was read: not remembered
	}
	c.mu.Lock()
	if c.sums == nil {
		c.sums = map[string]cachedSum{}
	}
	c.sums[path] = cachedSum{fi: fi, sum: sum}
	c.mu.Unlock()
	return sum, nil
}

// untrustedError is a start refused because the executable is not trusted.
type untrustedError struct{ reason string }

func (e *untrustedError) Error() string { return e.reason }

// NotTrustedReason is why a plugin without a pin is not started.
func NotTrustedReason(name string) string {
	return "not trusted: run conversa plugins trust " + name
}

// ChangedReason is why a plugin whose executable does not match its pin is
// not started.
func ChangedReason(name string, now, trusted []byte) string {
	return fmt.Sprintf("changed since it was trusted (sha256 %s, trusted %s): run conversa plugins trust %s to trust this executable",
		short(now), short(trusted), name)
}

func short(sum []byte) string {
	s := hex.EncodeToString(sum)
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}

// pin reads a plugin's pin: nil when it has none.
func (h *Host) pin(ctx context.Context, name string) ([]byte, error) {
	if h.o.Pin == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := h.o.Pin(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("checking whether the plugin is trusted: %w", err)
	}
	if s == "" {
		return nil, nil
	}
	sum, err := hex.DecodeString(s)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("the pin of plugin %s is not a SHA-256 (%q): run conversa plugins trust %s again", name, s, name)
	}
	return sum, nil
}

// verify checks the executable at path against the plugin's pin. It returns
// the pin and the file's digest when they match; an *untrustedError when
// the plugin has no pin or the file does not match; another error when
// either cannot be read (the database is down: the start fails and is
// retried).
func (h *Host) verify(ctx context.Context, name, path string) (pin, sum []byte, err error) {
	sum, err = h.sums.sum(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the executable: %w", err)
	}
	pin, err = h.pin(ctx, name)
	if err != nil {
		return nil, sum, err
	}
	if pin == nil {
		return nil, sum, &untrustedError{NotTrustedReason(name)}
	}
	if subtle.ConstantTimeCompare(pin, sum) != 1 {
		return pin, sum, &untrustedError{ChangedReason(name, sum, pin)}
	}
	return pin, sum, nil
}

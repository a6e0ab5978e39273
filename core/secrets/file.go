package secrets

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvVar holds a key (base64) that overrides the key file.
const EnvVar = "CONVERSA_SECRET_KEY"

// Load returns the key: env (the variable's value) when not empty, else the
// key file at path. A missing file is generated when create is set
// (generated reports it), else an error wrapping fs.ErrNotExist.
func Load(path, env string, create bool) (k *Key, generated bool, err error) {
	if env != "" {
		k, err := Parse(env, EnvVar)
		return k, false, err
	}
	k, err = ReadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return k, false, err
	}
	raw, err := Generate()
	if err != nil {
		return nil, false, err
	}
	if err := WriteFile(path, raw); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process made it first: use theirs.
			k, err := ReadFile(path)
			return k, false, err
		}
		return nil, false, err
	}
	k, err = New(raw, path)
	return k, true, err
}

// ReadFile reads a key file.
func ReadFile(path string) (*Key, error) {
	_, k, err := readFile(path)
	return k, err
}

func readFile(path string) ([]byte, *Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		raw = nil // Parse says what is wrong
	}
	k, err := Parse(string(b), path)
	return raw, k, err
}

// CopyFile puts the key of the key file src at dst (see ReplaceFile).
func CopyFile(src, dst string) error {
	raw, _, err := readFile(src)
	if err != nil {
		return err
	}
	return ReplaceFile(dst, raw)
}

// WriteFile writes raw as a new key file, mode 0600, creating its directory
// (0700) if needed. It never replaces a file (the error wraps fs.ErrExist)
// and a reader never sees it half written.
func WriteFile(path string, raw []byte) error {
	tmp, err := writeTemp(path, raw)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	return syncDir(path)
}

// ReplaceFile puts raw at path as a key file (mode 0600), replacing what
// was there in one step.
func ReplaceFile(path string, raw []byte) error {
	tmp, err := writeTemp(path, raw)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("key file: %w", err)
	}
	return syncDir(path)
}

// writeTemp writes raw's text form to a new file beside path.
func writeTemp(path string, raw []byte) (string, error) {
	if len(raw) != Size {
		return "", fmt.Errorf("a key is %d bytes, got %d", Size, len(raw))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("key file directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	// CreateTemp makes the file 0600; Chmod holds it there whatever the umask.
	_, werr := f.WriteString(Encode(raw))
	err = errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close())
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("key file: %w", err)
	}
	return f.Name(), nil
}

func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CheckMode reports a key file that others than its owner may read.
func CheckMode(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("key file %s can be read by others than its owner (mode %04o): chmod 600 %s", path, perm, path)
	}
	return nil
}

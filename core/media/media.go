package media

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Errors of Save.
var (
	ErrTooLarge    = errors.New("the file is larger than the upload limit")
	ErrEmpty       = errors.New("the file is empty")
	ErrUnsupported = errors.New("this type of file cannot be sent")
)

// TypeError is ErrUnsupported with what the bytes looked like.
type TypeError struct {
	// Detected is the type the bytes look like (application/octet-stream
	// when nothing is recognised).
	Detected string
}

func (e *TypeError) Error() string { return ErrUnsupported.Error() + ": " + e.Detected }
func (e *TypeError) Unwrap() error { return ErrUnsupported }

// File is one kept file.
type File struct {
	Token    string    `json:"-"`
	Name     string    `json:"name"`
	MIMEType string    `json:"mime_type"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created_at"`
}

// Path is the file's path under /media/: {token}/{name}, the name
// escaped for a URL.
func (f *File) Path() string { return f.Token + "/" + url.PathEscape(f.Name) }

// Library is the directory of uploaded files.
type Library struct {
	dir string
	max int64
	now func() time.Time
}

// Folder layout: {dir}/{token[:2]}/{token}/{data,meta.json}. The bytes and
// what is known of them are written in a folder of {dir}/.tmp and renamed
// into place together, so a reader sees a whole file or none.
const (
	dataFile = "data"
	metaFile = "meta.json"
	tmpDir   = ".tmp"
	// staleTmp is when a leftover of an upload cut short (the process
	// died) is removed.
	staleTmp = time.Hour
)

// tokenBytes is the token's randomness: 128 bits.
const tokenBytes = 16

var tokenPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Open prepares the library in dir (created 0700 when missing) for files of
// at most maxBytes, and removes what uploads cut short left behind.
func Open(dir string, maxBytes int64, now func() time.Time) (*Library, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("media directory: %w", err)
	}
	l := &Library{dir: dir, max: maxBytes, now: now}
	l.sweep()
	return l, nil
}

// MaxBytes is the largest file Save accepts.
func (l *Library) MaxBytes() int64 { return l.max }

func (l *Library) sweep() {
	tmp := filepath.Join(l.dir, tmpDir)
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && l.now().Sub(info.ModTime()) > staleTmp {
			os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
}

// Save keeps the file read from r under a new token. declared is the type
// the client gave (a hint only) and name its name, made safe. It fails with
// ErrTooLarge, ErrEmpty or a *TypeError before anything is kept.
func (l *Library) Save(r io.Reader, declared, name string) (*File, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the upload: %w", err)
	}
	head = head[:n]
	if n == 0 {
		return nil, ErrEmpty
	}
	mimeType, ok := Detect(head, declared, name)
	if !ok {
		return nil, &TypeError{Detected: mimeType}
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	f := &File{Token: token, Name: SafeName(name, mimeType), MIMEType: mimeType, Created: l.now().UTC()}

	work, err := os.MkdirTemp(filepath.Join(l.dir, tmpDir), "upload-")
	if err != nil {
		return nil, fmt.Errorf("media directory: %w", err)
	}
	defer os.RemoveAll(work) // after the rename, nothing is left there
	if f.Size, err = writeData(filepath.Join(work, dataFile), io.MultiReader(bytes.NewReader(head), r), l.max); err != nil {
		return nil, err
	}
	meta, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(work, metaFile), meta); err != nil {
		return nil, err
	}
	shard := filepath.Join(l.dir, token[:2])
	if err := os.MkdirAll(shard, 0o700); err != nil {
		return nil, fmt.Errorf("media directory: %w", err)
	}
	if err := os.Rename(work, filepath.Join(shard, token)); err != nil {
		return nil, fmt.Errorf("keeping the upload: %w", err)
	}
	syncDir(shard)
	return f, nil
}

// writeData copies at most max bytes of r to a new file at p, synced.
func writeData(p string, r io.Reader, max int64) (int64, error) {
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("keeping the upload: %w", err)
	}
	defer out.Close()
	n, err := io.Copy(out, io.LimitReader(r, max+1))
	switch {
	case err != nil:
		return 0, fmt.Errorf("keeping the upload: %w", err)
	case n > max:
		return 0, ErrTooLarge
	}
	if err := out.Sync(); err != nil {
		return 0, fmt.Errorf("keeping the upload: %w", err)
	}
	return n, out.Close()
}

func writeFile(p string, b []byte) error {
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.Write(b); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(p string) {
	if d, err := os.Open(p); err == nil {
		d.Sync()
		d.Close()
	}
}

// Get finds the file of a token and name as a URL names them (the name
// unescaped); os.ErrNotExist for anything else. The caller closes the
// returned file.
func (l *Library) Get(token, name string) (*File, *os.File, error) {
	if !tokenPattern.MatchString(token) {
		return nil, nil, os.ErrNotExist
	}
	folder := filepath.Join(l.dir, token[:2], token)
	b, err := os.ReadFile(filepath.Join(folder, metaFile))
	if err != nil {
		return nil, nil, os.ErrNotExist
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil || f.Name != name {
		return nil, nil, os.ErrNotExist
	}
	f.Token = token
	data, err := os.Open(filepath.Join(folder, dataFile))
	if err != nil {
		return nil, nil, os.ErrNotExist
	}
	return &f, data, nil
}

func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Size is the length of a key in bytes (AES-256).
const Size = 32

// prefix starts every sealed value; the version names the cipher and the
// layout, so another one can be added beside it.
const prefix = "enc:v1:"

// ErrTampered: the value names this key but does not open with it (it was
// changed, or moved from another setting).
var ErrTampered = errors.New("secret does not decrypt: the stored value was changed or moved")

// ErrMalformed: the value starts like a sealed one but is not.
var ErrMalformed = errors.New("secret is not a well-formed encrypted value")

// WrongKeyError: a value was sealed by another key than the one loaded.
type WrongKeyError struct {
	// Want is the id of the key that sealed the value, Have the loaded one's.
	Want, Have string
	// Source is where the loaded key came from (a file or the variable).
	Source string
}

func (e *WrongKeyError) Error() string {
	return fmt.Sprintf("secrets were encrypted with key %s, but the key from %s is %s", e.Want, e.Source, e.Have)
}

// Key is one encryption key.
type Key struct {
	id     string
	aead   cipher.AEAD
	source string
}

// New makes a key of raw (Size bytes); source says where it came from, for
// messages (a path, or CONVERSA_SECRET_KEY).
func New(raw []byte, source string) (*Key, error) {
	if len(raw) != Size {
		return nil, fmt.Errorf("%s: a key is %d bytes, got %d", source, Size, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{id: keyID(raw), aead: aead, source: source}, nil
}

// Generate returns a new random key's bytes.
func Generate() ([]byte, error) {
	raw := make([]byte, Size)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// Parse reads a key in its text form (base64 of Size bytes, surrounding
// space ignored).
func Parse(text, source string) (*Key, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != Size {
		return nil, fmt.Errorf("%s: not a key (want %d bytes in base64, e.g. from `head -c %d /dev/urandom | base64`)", source, Size, Size)
	}
	return New(raw, source)
}

// Encode is a key's text form, as a key file holds it.
func Encode(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) + "\n" }

// keyID names a key without revealing it.
func keyID(raw []byte) string {
	h := sha256.Sum256(append([]byte("conversa secret key id\x00"), raw...))
	return hex.EncodeToString(h[:4])
}

// ID names the key in sealed values and messages.
func (k *Key) ID() string { return k.id }

// Source is where the key came from.
func (k *Key) Source() string { return k.source }

// Seal encrypts plain for the place context names.
func (k *Key) Seal(plain, context string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := k.aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return prefix + k.id + ":" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value Seal made for the same context. A value sealed by
// another key is a *WrongKeyError.
func (k *Key) Open(value, context string) (string, error) {
	id, data, ok := split(value)
	if !ok {
		return "", ErrMalformed
	}
	if id != k.id {
		return "", &WrongKeyError{Want: id, Have: k.id, Source: k.source}
	}
	b, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil || len(b) < k.aead.NonceSize()+k.aead.Overhead() {
		return "", ErrMalformed
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, b[:n], b[n:], []byte(context))
	if err != nil {
		return "", ErrTampered
	}
	return string(plain), nil
}

// IsSealed reports whether v is (or looks like) a sealed value.
func IsSealed(v string) bool { return strings.HasPrefix(v, prefix) }

// KeyIDOf returns the id of the key that sealed v.
func KeyIDOf(v string) (string, bool) {
	id, _, ok := split(v)
	return id, ok
}

func split(v string) (id, data string, ok bool) {
	rest, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return "", "", false
	}
	id, data, ok = strings.Cut(rest, ":")
	return id, data, ok && len(id) == 8 && data != ""
}

// ForSetting is the context of an integration's setting: its value opens
// only there.
func ForSetting(integration, setting string) string {
	return "integration\x00" + integration + "\x00setting\x00" + setting
}

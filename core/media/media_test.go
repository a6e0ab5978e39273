package media

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Samples of each format: the first bytes the sniffer looks at.
var (
	pngBytes  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	jpegBytes = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01")
	gifBytes  = []byte("GIF89a\x01\x00\x01\x00")
	webpBytes = []byte("RIFF\x24\x00\x00\x00WEBPVP8 ")
	pdfBytes  = []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	mp4Bytes  = []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	m4aBytes  = []byte("\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42")
	mp3Bytes  = []byte("ID3\x04\x00\x00\x00\x00\x00\x00")
	wavBytes  = []byte("RIFF\x24\x00\x00\x00WAVEfmt ")
	oggBytes  = []byte("OggS\x00\x02\x00\x00")
	aacBytes  = []byte{0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC}
	zipBytes  = []byte("PK\x03\x04\x14\x00\x06\x00")
	oleBytes  = append(append([]byte{}, oleMagic...), 0, 0, 0, 0)
	htmlBytes = []byte("<!DOCTYPE html><html><script>alert(1)</script>")
	xmlBytes  = []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`)
	exeBytes  = []byte("MZ\x90\x00\x03\x00\x00\x00")
)

func TestDetect(t *testing.T) {
	docx := "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	for _, tc := range []struct {
		name     string
		head     []byte
		declared string
		file     string
		want     string
		ok       bool
	}{
		{"png", pngBytes, "image/png", "a.png", "image/png", true},
		{"jpeg whatever it claims", jpegBytes, "application/pdf", "a.pdf", "image/jpeg", true},
		{"gif", gifBytes, "", "", "image/gif", true},
		{"webp", webpBytes, "", "x", "image/webp", true},
		{"pdf", pdfBytes, "application/pdf", "a.pdf", "application/pdf", true},
		{"mp4 video", mp4Bytes, "video/mp4", "clip.mp4", "video/mp4", true},
		{"m4a by type", m4aBytes, "audio/x-m4a", "voice", "audio/mp4", true},
		{"m4a by name", m4aBytes, "", "voice.m4a", "audio/mp4", true},
		{"mp3", mp3Bytes, "audio/mpeg", "a.mp3", "audio/mpeg", true},
		{"wav", wavBytes, "", "a.wav", "audio/wav", true},
		{"ogg", oggBytes, "audio/ogg", "a.ogg", "audio/ogg", true},
		{"aac when declared", aacBytes, "audio/aac", "a.aac", "audio/aac", true},
		{"aac bytes undeclared", aacBytes, "", "a.bin", "application/octet-stream", false},
		{"docx", zipBytes, docx, "a.docx", docx, true},
		{"docx by name", zipBytes, "application/octet-stream", "Proposta.DOCX", docx, true},
		{"plain zip", zipBytes, "application/zip", "a.zip", "application/zip", false},
		{"zip calling itself an image", zipBytes, "image/png", "a.png", "application/zip", false},
		{"legacy doc", oleBytes, "application/msword", "a.doc", "application/msword", true},
		{"legacy xls by name", oleBytes, "", "a.xls", "application/vnd.ms-excel", true},
		{"ole without a hint", oleBytes, "", "a", "application/octet-stream", false},
		{"text", []byte("Order #123: 2 jackets\n"), "text/plain", "a.txt", "text/plain", true},
		{"csv", []byte("name,qty\njacket,2\n"), "text/csv", "a.csv", "text/csv", true},
		{"html", htmlBytes, "text/plain", "a.txt", "text/html", false},
		{"xml or svg", xmlBytes, "image/svg+xml", "a.svg", "text/xml", false},
		{"executable", exeBytes, "image/png", "a.png", "application/octet-stream", false},
		{"exe as a doc", exeBytes, "application/msword", "a.doc", "application/octet-stream", false},
	} {
		got, ok := Detect(tc.head, tc.declared, tc.file)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: Detect(%q, %q) = %q, %v, want %q, %v", tc.name, tc.declared, tc.file, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSafeName(t *testing.T) {
	long := strings.Repeat("ã", 100) + ".pdf" // 200 bytes of stem
	for _, tc := range []struct{ in, mime, want string }{
		{"photo.png", "image/png", "photo.png"},
		{"Foto da jaqueta azul.JPG", "image/jpeg", "Foto da jaqueta azul.jpg"},
		{"../../etc/passwd", "text/plain", "passwd.txt"},
		{`C:\Users\ana\Desktop\nota fiscal.pdf`, "application/pdf", "nota fiscal.pdf"},
		{"..", "image/png", "file.png"},
		{"", "application/pdf", "file.pdf"},
		{".htaccess", "text/plain", "htaccess.txt"},
		{"a\x00b\nc\td.pdf", "application/pdf", "ab c d.pdf"},
		{"bad\xff\xfeutf8.pdf", "application/pdf", "badutf8.pdf"},
		{`q"uo<te>s%2F?#.pdf`, "application/pdf", "q_uo_te_s_2F__.pdf"},
		{"rtl\u202egnp.pdf", "application/pdf", "rtl_gnp.pdf"},
		{"invoice.pdf.exe", "application/pdf", "invoice.pdf.exe.pdf"},
		{"image.png", "image/jpeg", "image.png.jpg"},
		{"voice", "audio/mp4", "voice.m4a"},
		{"relatório março.pdf", "application/pdf", "relatório março.pdf"},
		{"trailing dots...", "text/plain", "trailing dots.txt"},
	} {
		if got := SafeName(tc.in, tc.mime); got != tc.want {
			t.Errorf("SafeName(%q, %q) = %q, want %q", tc.in, tc.mime, got, tc.want)
		}
	}
	got := SafeName(long, "application/pdf")
	if len(got) > maxNameBytes || !strings.HasSuffix(got, "ã.pdf") || !strings.HasPrefix(got, "ããã") {
		t.Errorf("SafeName(200-byte name) = %q (%d bytes), want at most %d bytes, whole runes, ending .pdf", got, len(got), maxNameBytes)
	}
}

func newLibrary(t *testing.T, max int64) (*Library, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "media")
	l, err := Open(dir, max, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, dir
}

func TestSaveAndGet(t *testing.T) {
	l, dir := newLibrary(t, 1<<20)
	body := append(append([]byte{}, pngBytes...), bytes.Repeat([]byte{7}, 5000)...)
	f, err := l.Save(bytes.NewReader(body), "image/png", "../jaqueta azul.png")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "jaqueta azul.png" || f.MIMEType != "image/png" || f.Size != int64(len(body)) {
		t.Errorf("Save = %+v, want jaqueta azul.png, image/png, %d bytes", f, len(body))
	}
	if !tokenPattern.MatchString(f.Token) {
		t.Errorf("token %q is not 128 random bits in hex", f.Token)
	}
	if want := f.Token + "/jaqueta%20azul.png"; f.Path() != want {
		t.Errorf("Path() = %q, want %q", f.Path(), want)
	}
	got, data, err := l.Get(f.Token, "jaqueta azul.png")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(data)
	data.Close()
	if !bytes.Equal(b, body) || got.MIMEType != "image/png" || got.Size != f.Size {
		t.Errorf("Get = %+v with %d bytes, want the saved file", got, len(b))
	}
	for _, p := range []string{filepath.Join(dir, f.Token[:2]), filepath.Join(dir, f.Token[:2], f.Token)} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v (%v), want 0700", p, info.Mode().Perm(), err)
		}
	}
	for _, name := range []string{dataFile, metaFile} {
		p := filepath.Join(dir, f.Token[:2], f.Token, name)
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", p, info.Mode().Perm(), err)
		}
	}
	second, err := l.Save(bytes.NewReader(body), "image/png", "jaqueta azul.png")
	if err != nil || second.Token == f.Token {
		t.Errorf("a second upload of the same file = %+v, %v; want a token of its own", second, err)
	}
}

func TestGetRefusesWhatWasNotSaved(t *testing.T) {
	l, dir := newLibrary(t, 1<<20)
	f, err := l.Save(bytes.NewReader(pdfBytes), "application/pdf", "a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("no"), 0o600)
	for _, tc := range []struct{ token, name string }{
		{f.Token, "b.pdf"},
		{f.Token, ""},
		{f.Token, "meta.json"},
		{strings.ToUpper(f.Token), "a.pdf"},
		{f.Token[:31], "a.pdf"},
		{"../" + f.Token[3:], "a.pdf"},
		{"..", "secret.txt"},
		{strings.Repeat("0", 32), "a.pdf"},
	} {
		if _, data, err := l.Get(tc.token, tc.name); !errors.Is(err, os.ErrNotExist) {
			if data != nil {
				data.Close()
			}
			t.Errorf("Get(%q, %q) = %v, want not found", tc.token, tc.name, err)
		}
	}
}

func TestSaveRefusals(t *testing.T) {
	l, dir := newLibrary(t, 1000)
	big := append(append([]byte{}, pngBytes...), make([]byte, 1000)...)
	var te *TypeError
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"too large", big, ErrTooLarge},
		{"empty", nil, ErrEmpty},
		{"html", htmlBytes, ErrUnsupported},
		{"executable", exeBytes, ErrUnsupported},
	} {
		_, err := l.Save(bytes.NewReader(tc.body), "image/png", "x.png")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Save = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := l.Save(bytes.NewReader(exeBytes), "", "x.exe"); !errors.As(err, &te) || te.Detected != "application/octet-stream" {
		t.Errorf("Save(exe) = %v, want a TypeError naming application/octet-stream", err)
	}
	if exact, err := l.Save(bytes.NewReader(big[:1000]), "image/png", "x.png"); err != nil || exact.Size != 1000 {
		t.Errorf("Save(exactly the limit) = %+v, %v, want it kept", exact, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	if len(entries) != 0 {
		t.Errorf("refused uploads left %d entries in %s", len(entries), tmpDir)
	}
}

func TestOpenSweepsUploadsCutShort(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, tmpDir, "upload-old")
	recent := filepath.Join(dir, tmpDir, "upload-recent")
	for _, p := range []string{old, recent} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, past, past)
	if _, err := Open(dir, 100, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("a two-hour-old leftover is still there (%v)", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("an upload in progress was removed: %v", err)
	}
}

func TestKind(t *testing.T) {
	for mime, want := range map[string]string{"image/png": "image", "audio/mp4": "audio", "video/mp4": "video",
		"application/pdf": "file", "text/csv": "file"} {
		if got := Kind(mime); got != want {
			t.Errorf("Kind(%q) = %q, want %q", mime, got, want)
		}
	}
}

package media

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Type is a kind of file that may be uploaded.
type Type struct {
	// MIME is the type the file is served with.
	MIME string
	// Exts are the names' extensions of the type, the usual one first.
	Exts []string
}

// Types are every type an upload may have: what Instagram shows (images,
// audio, MP4 video, PDF) and documents the channels send as a link.
var Types = []Type{
	{"image/jpeg", []string{".jpg", ".jpeg"}},
	{"image/png", []string{".png"}},
	{"image/gif", []string{".gif"}},
	{"image/webp", []string{".webp"}},
	{"audio/mpeg", []string{".mp3"}},
	{"audio/mp4", []string{".m4a"}},
	{"audio/aac", []string{".aac"}},
	{"audio/wav", []string{".wav"}},
	{"audio/ogg", []string{".ogg", ".oga", ".opus"}},
	{"video/mp4", []string{".mp4"}},
	{"application/pdf", []string{".pdf"}},
	{"application/msword", []string{".doc"}},
	{"application/vnd.ms-excel", []string{".xls"}},
	{"application/vnd.ms-powerpoint", []string{".ppt"}},
	{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", []string{".docx"}},
	{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", []string{".xlsx"}},
	{"application/vnd.openxmlformats-officedocument.presentationml.presentation", []string{".pptx"}},
	{"application/vnd.oasis.opendocument.text", []string{".odt"}},
	{"application/vnd.oasis.opendocument.spreadsheet", []string{".ods"}},
	{"application/vnd.oasis.opendocument.presentation", []string{".odp"}},
	{"text/plain", []string{".txt"}},
	{"text/csv", []string{".csv"}},
}

func typeOf(mimeType string) (Type, bool) {
	for _, t := range Types {
		if t.MIME == mimeType {
			return t, true
		}
	}
	return Type{}, false
}

// hinted is the type the declared MIME type or, failing that, the name's
// extension names, if it is one of Types.
func hinted(declared, name string) string {
	if mt, _, err := mime.ParseMediaType(declared); err == nil {
		switch mt = strings.ToLower(mt); mt {
		case "audio/x-m4a", "audio/m4a":
			mt = "audio/mp4"
		case "audio/x-wav", "audio/wave", "audio/vnd.wave":
			mt = "audio/wav"
		case "audio/mp3":
			mt = "audio/mpeg"
		case "audio/x-aac":
			mt = "audio/aac"
		}
		if _, ok := typeOf(mt); ok {
			return mt
		}
	}
	ext := strings.ToLower(path.Ext(name))
	for _, t := range Types {
		for _, e := range t.Exts {
			if e == ext {
				return t.MIME
			}
		}
	}
	return ""
}

// oleMagic starts the legacy Office formats (.doc, .xls, .ppt).
var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// Detect decides an upload's type from its first bytes (at least 512 when
// the file has them). The bytes decide the family; the declared type, or
// the name's extension, only picks within what the bytes allow (a zip
// container is a .docx only if it says so, and never becomes an image).
// It returns what the bytes look like and whether that may be uploaded.
func Detect(head []byte, declared, name string) (mimeType string, ok bool) {
	sniffed := http.DetectContentType(head)
	base, _, _ := strings.Cut(sniffed, ";")
	hint := hinted(declared, name)
	switch base {
	case "image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "audio/mpeg":
		return base, true
	case "audio/wave":
		return "audio/wav", true
	case "application/ogg":
		return "audio/ogg", true
	case "video/mp4":
		// An .m4a is an MP4 container holding sound only.
		if hint == "audio/mp4" {
			return hint, true
		}
		return base, true
	case "application/zip":
		switch hint {
		case "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
			"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
			"application/vnd.openxmlformats-officedocument.presentationml.presentation",
			"application/vnd.oasis.opendocument.text",
			"application/vnd.oasis.opendocument.spreadsheet",
			"application/vnd.oasis.opendocument.presentation":
			return hint, true
		}
	case "text/plain":
		// UTF-8 text only: the sniffer names other encodings in the
		// parameter, and HTML or XML (SVG) never sniff as plain text.
		if strings.HasSuffix(sniffed, "charset=utf-8") {
			if hint == "text/csv" {
				return hint, true
			}
			return "text/plain", true
		}
	case "application/octet-stream":
		switch {
		case bytes.HasPrefix(head, oleMagic):
			switch hint {
			case "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint":
				return hint, true
			}
		case hint == "audio/aac" && len(head) >= 2 && head[0] == 0xFF && head[1]&0xF6 == 0xF0:
			// An ADTS frame header: raw AAC, which the sniffer does not know.
			return hint, true
		}
	}
	return base, false
}

// Kind is the content type a message carries the file as: image, audio,
// video or file.
func Kind(mimeType string) string {
	switch major, _, _ := strings.Cut(mimeType, "/"); major {
	case "image", "audio", "video":
		return major
	}
	return "file"
}

// maxNameBytes bounds a kept name (file systems take 255 bytes; URLs and
// headers carry it too).
const maxNameBytes = 120

// SafeName is the name a file is kept and served under: the last element of
// what the browser sent (some send a whole Windows path), valid UTF-8
// without control characters, path separators or characters that mean
// something in URLs and headers, no leading dots, at most 120 bytes, and
// ending in an extension of its type. A name with nothing left becomes
// "file".
func SafeName(name, mimeType string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r), r == unicode.ReplacementChar:
			return -1
		case strings.ContainsRune(`"'<>:*?|%#&;=+\`+"`", r), unicode.Is(unicode.Cf, r):
			return '_'
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	name = strings.TrimLeft(name, ". ")
	name = strings.TrimRight(name, ". ")
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if t, ok := typeOf(mimeType); ok && !hasExt(t, ext) {
		// The type decides how providers and browsers open it: a name that
		// says otherwise gets the type's extension.
		stem, ext = name, t.Exts[0]
	}
	if stem == "" {
		stem = "file"
	}
	if len(ext) > 16 {
		stem, ext = stem+ext, ""
	}
	if stem = truncateBytes(stem, maxNameBytes-len(ext)); stem == "" {
		stem = "file"
	}
	return stem + strings.ToLower(ext)
}

func hasExt(t Type, ext string) bool {
	ext = strings.ToLower(ext)
	for _, e := range t.Exts {
		if e == ext {
			return true
		}
	}
	return false
}

// truncateBytes cuts s to at most n bytes, at a rune boundary.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimRight(s[:n], " .")
}

package zenvia

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/sdk"
)

// checkAgrees fails unless the one-pass reading of body gives exactly the
// event (or the error) that encoding/json's map-by-map reading gives.
func checkAgrees(t *testing.T, body []byte) {
	t.Helper()
	s, _ := decodeSettings(testSettingsJSON(""))
	fast, ferr := parseEvent(body, s)
	ref, rerr := readEvent(value{b: body}, s)
	if fmt.Sprint(ferr) != fmt.Sprint(rerr) {
		t.Fatalf("error %v, encoding/json's %v", ferr, rerr)
	}
	if !gproto.Equal(fast, ref) {
		t.Fatalf("event:\n%v\nencoding/json's:\n%v", fast, ref)
	}
}

// FuzzParseEventAgrees holds the one-pass reader to encoding/json's answers
// on any body:
//
//	go test -run XXX -fuzz FuzzParseEventAgrees -fuzztime 60s ./plugins/zenvia
func FuzzParseEventAgrees(f *testing.F) {
	for _, dir := range []string{"testdata", filepath.Join("..", "..", "core", "e2e", "testdata", "zenvia")} {
		names, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(names) == 0 {
			f.Fatalf("no fixtures in %s", dir)
		}
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	names, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzWebhook", "*"))
	for _, name := range names {
		if b, err := os.ReadFile(name); err == nil {
			if body, ok := corpusBytes(b); ok {
				f.Add(body)
			}
		}
	}
	msg := func(fields string) string {
		return `{"id":"e1","type":"MESSAGE","channel":"instagram","message":{"id":"m1","from":"u1","to":"` + testSender + `",` + fields + `}}`
	}
	for _, s := range []string{
		`null`, `[]`, `"MESSAGE"`, `{}`, `{"type":null}`, `{"type":"MESSAGE"} x`, `{"type":"MESSAGE","type":"MESSAGE_STATUS"}`,
		`{"Type":"MESSAGE"}`, `{"\u0074ype":"MESSAGE","message":{"from":"u"}}`, `{"type":"MESS\u0041GE","message":null}`,
		`{"type":"MESSAGE","message":{}}`, `{"type":"MESSAGE","message":[]}`, `{"type":" message ","channel":"whatsapp"}`,
		`{"type":"MESSAGE","channel":null,"message":{"from":7,"contents":null}}`,
		msg(`"contents":[{"type":"text","text":"caf\u00e9 \ud83d\ude00"}]`),
		msg(`"contents":[{"type":"text","text":"\xff\xfe"},{"type":"TEXT","text":1},null,3,"x",[]]`),
		msg(`"contents":[{"type":"file","fileUrl":"https:\/\/x\/a.jpg","fileMimeType":null},{"type":"file","fileUrl":"https://x/a"}]`),
		msg(`"contents":[{"type":"text","text":"a","text":"b"}],"contents":[{"type":"text","text":"c"}]`),
		msg(`"contents":{"type":"text"},"visitor":{"name":" N ","userName":"@u","picture":null}`),
		msg(`"contents":[{"type":"optin_response","optInStatus":"ACTIVE","payload":12}]`),
		msg(`"direction":"OUT","contents":[{"type":"text","text":"x"}]`),
		msg(`"direction":1,"timestamp":1.7e9,"contents":[]`),
		msg(`"timestamp":"2025-03-14 13:22:07","contents":[],"referral":{"source":{"type":"ad","id":5}}`),
		msg(`"timestamp":17000000000000,"referral":{"source":{"type":"story_mention","url":"u"}},"contents":[{"type":"file","fileUrl":"v"}]`),
		msg(`"timestamp":-1,"referral":{"source":{"type":"story","id":"s"}},"contents":[{"type":"text","text":"t"}]`),
		msg(`"timestamp":1e400,"idRef":null,"referral":{"source":{"type":"message","id":"q"}}`),
		msg(`"timestamp":"\u0032025-03-14T13:22:07Z","contents":[]`),
		`{"id":3,"type":"MESSAGE_STATUS","messageId":12,"messageStatus":{"code":"rejected","causes":[{"channelErrorCode":100,"reason":"r","details":"d"}]}}`,
		`{"id":"s","type":"MESSAGE_STATUS","message":{"id":"m","contentIndex":2,"direction":"in"},"messageStatus":{"code":"NOT_DELIVERED","cause":"c","causes":[]}}`,
		`{"id":"s","type":"MESSAGE_STATUS","message":{"id":"m"},"messageStatus":{"code":"DELETED","timestamp":true}}`,
		`{"id":"s","type":"MESSAGE_STATUS","message":{"id":"m"},"messageStatus":{"code":"READ","timestamp":{"x":1}},"timestamp":[1]}`,
		`{"type":"MESSAGE","message":` + strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAgrees)
}

// TestTreeReadsEveryFixture: the agreement above means something only if
// the tree does read the bodies Zenvia sends, rather than leaving them to
// encoding/json.
func TestTreeReadsEveryFixture(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(names) == 0 {
		t.Fatal("no fixtures")
	}
	var tr sdk.JSONTree
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !tr.Parse(b) {
			t.Errorf("%s: the tree does not read it", name)
		}
		checkAgrees(t, b)
	}
}

// corpusBytes reads the []byte of a "go test fuzz v1" corpus file.
func corpusBytes(file []byte) ([]byte, bool) {
	lines := strings.SplitN(string(file), "\n", 3)
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		return nil, false
	}
	var s string
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"), "%q", &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// FuzzParseTimestampAgrees holds parseTimestamp's reading of strings and
// numbers from their bytes to the encoding/json reading it replaced, on any
// JSON value:
//
//	go test -run XXX -fuzz FuzzParseTimestampAgrees -fuzztime 30s ./plugins/zenvia
func FuzzParseTimestampAgrees(f *testing.F) {
	for _, s := range []string{`"2025-03-14T13:22:07+00:00"`, `"2025-03-14T13:22:08.417Z"`, `"2025-03-14 13:22:07"`,
		`" 2025-03-14t13:22:07z "`, `"2025-03-14T13:22-03:00"`, `"2025-03-14T13:22:07-0300"`, `"2025-03-14T13:22:07\u005a"`,
		`"1970-01-01T00:00:00Z"`, `"\xff"`, `""`, `null`, `true`, `{}`, `[1]`, `1700000000`, `1700000000123`, `1.5e9`,
		`-5`, `0`, `1e400`, `-0.0`, `99999999999999999`, `"1700000000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		raw := bytes.Trim(b, " \t\r\n")
		if !json.Valid(raw) {
			return // a field's bytes are always one JSON value
		}
		ms, ok := parseTimestamp(raw)
		wantMs, wantOK := parseTimestampJSON(raw)
		if ms != wantMs || ok != wantOK {
			t.Fatalf("parseTimestamp(%s) = %d, %v; encoding/json's reading %d, %v", raw, ms, ok, wantMs, wantOK)
		}
	})
}

// parseTimestampJSON is parseTimestamp as it was, every value decoded with
// encoding/json: the reference.
func parseTimestampJSON(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil || n <= 0 {
			return 0, false
		}
		switch {
		case n < 1e11:
			return int64(n * 1000), true
		case n < 1e15:
			return int64(n), true
		default:
			return 0, false
		}
	}
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	for _, layout := range []string{
		time.RFC3339,
		"2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05Z07",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04:05",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			if ms := t.UnixMilli(); ms > 0 {
				return ms, true
			}
			return 0, false
		}
	}
	return 0, false
}

package meta

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gproto "google.golang.org/protobuf/proto"
)

// agreeingRouter routes as a webhook with two candidates would: the URL's
// integration verified, another not.
var agreeingRouter = router{
	first: candidate{id: "ig", accountID: business, verified: true},
	candidates: []candidate{{id: "ig", accountID: business, verified: true},
		{id: "ig-other", accountID: "17841400000000999"}},
}

// checkAgrees fails unless the one-pass reading of body gives exactly what
// encoding/json's level-by-level reading gives.
func checkAgrees(t *testing.T, body []byte) {
	t.Helper()
	fast, ferr := parseDelivery(body, agreeingRouter)
	ref, rerr := parseEntries(jsonValue{b: body}, agreeingRouter)
	if fmt.Sprint(ferr) != fmt.Sprint(rerr) {
		t.Fatalf("error %v, encoding/json's %v", ferr, rerr)
	}
	if len(fast) != len(ref) {
		t.Fatalf("%d events, encoding/json's %d", len(fast), len(ref))
	}
	for i := range fast {
		if !gproto.Equal(fast[i], ref[i]) {
			t.Fatalf("event %d:\n%v\nencoding/json's:\n%v", i, fast[i], ref[i])
		}
	}
}

// FuzzParseDeliveryAgrees holds the one-pass reader to encoding/json's
// answers on any body:
//
//	go test -run XXX -fuzz FuzzParseDeliveryAgrees -fuzztime 60s ./plugins/meta
func FuzzParseDeliveryAgrees(f *testing.F) {
	seedFixtures(f, "testdata", filepath.Join("..", "..", "core", "e2e", "testdata"))
	if names, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzWebhook", "*")); len(names) > 0 {
		for _, name := range names {
			if b, err := os.ReadFile(name); err == nil {
				if body, ok := corpusBytes(b); ok {
					f.Add(body)
				}
			}
		}
	}
	for _, s := range []string{
		`{"entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"Sender":{"id":"3"},"message":{"mid":"m"}}]}]}`,
		`{"entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"sender":{"id":"3"},"message":{"mid":"m"}}]}]}`,
		`{"entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"mid":"m","text":"caf\u00e9 \ud83d\ude00"}}]}]}`,
		`{"entry":[{"id":"1","messaging":[{"sender":{"\u0069d":"2"},"message":{"mid":"m","text":"a\"b"}}]}]}`,
		`{"entry":[{"id":"1","messaging":[{"sender":{"id":2},"timestamp":"1.5e3","message":{"mid":"m","is_echo":"1"}}]}]}`,
		`{"entry":[{"id":"1","messaging":[{"sender":"2","message":{"mid":"m"}}]}]}`,
		`{"entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"mid":"m","text":"\xff"}}]}]}`,
		`{"entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"mid":"m","reply_to":null,"quick_reply":{"payload":null}}}]}]}`,
		`{"entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"mid":"m","attachments":{"type":"image","payload":{"url":"https:\/\/x\/a.jpg"}}}}]}]}`,
		`{"entry":[{"id":"1","ſtandby":[],"messaging":[]}]} `,
		`{"entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"mid":"m"}}]}]}x`,
		`{"entry":[{"id":01}]}`, `{"entry":[{"id":-0.0e+5}]}`, `{"entry":[1,]}`, `{"entry":[null,{"id":true}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAgrees)
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

// TestTreeFieldsMatchTags: every struct the tree fills takes each field of
// its json tags, and only those, into the same place encoding/json does.
func TestTreeFieldsMatchTags(t *testing.T) {
	for _, v := range []fromTree{&envelope{}, &entryFields{}, &party{}, &item{}, &messageEdit{}, &reaction{},
		&postback{}, &read{}, &message{}, &inQuickReply{}, &inReplyTo{}, &story{}, &attachment{},
		&attachmentPayload{}, &referral{}, &change{}} {
		typ := reflect.TypeOf(v).Elem()
		doc := sample(typ, 0)
		var tr tree
		if !tr.parse([]byte(doc)) {
			t.Fatalf("%s: the tree cannot read %s", typ, doc)
		}
		fast := reflect.New(typ)
		if !fast.Interface().(fromTree).fromTree(&tr, 0) {
			t.Errorf("%s: the tree refused %s", typ, doc)
			continue
		}
		ref := reflect.New(typ)
		if err := json.Unmarshal([]byte(doc), ref.Interface()); err != nil {
			t.Fatal(err)
		}
		if got, want := dump(fast.Elem()), dump(ref.Elem()); got != want {
			t.Errorf("%s from %s:\n got %s\nwant %s", typ, doc, got, want)
		}
	}
}

// sample is a JSON object giving every tagged field of typ a value of its
// own, plus a key no field has.
func sample(typ reflect.Type, depth int) string {
	var parts []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if tag == "" {
			continue
		}
		var v string
		ft := f.Type
		switch {
		case ft == reflect.TypeOf(looseString("")):
			v = fmt.Sprintf("%q", "s-"+tag+fmt.Sprint(depth))
		case ft == reflect.TypeOf(looseInt(0)):
			v = fmt.Sprint(1000 + i + depth)
		case ft == reflect.TypeOf(looseBool(false)):
			v = "true"
		case ft == reflect.TypeOf(jsonValue{}):
			v = fmt.Sprintf(`{"x":[1,"%s"]}`, tag)
		case ft.Kind() == reflect.Pointer:
			v = sample(ft.Elem(), depth+1)
		case ft.Kind() == reflect.Struct:
			v = sample(ft, depth+1)
		default:
			panic("no sample for " + ft.String())
		}
		parts = append(parts, fmt.Sprintf("%q:%s", tag, v))
	}
	parts = append(parts, `"not_a_field":{"id":"x"}`)
	return "{" + strings.Join(parts, ",") + "}"
}

// dump prints a decoded struct, jsonValues by their bytes.
func dump(v reflect.Value) string {
	switch {
	case v.Type() == reflect.TypeOf(jsonValue{}):
		return string(v.Field(0).Bytes())
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return "nil"
		}
		return "&" + dump(v.Elem())
	case v.Kind() == reflect.Struct:
		var parts []string
		for i := range v.NumField() {
			parts = append(parts, v.Type().Field(i).Name+":"+dump(v.Field(i)))
		}
		return "{" + strings.Join(parts, " ") + "}"
	default:
		return fmt.Sprintf("%q", fmt.Sprint(v.Interface()))
	}
}

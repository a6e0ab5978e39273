package engine

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// sampleDetails cover every field of a detail, set and unset.
func sampleDetails() []deliveryDetail {
	req := &HTTPMessage{Method: "POST", URL: "https://graph.instagram.com/v21.0/me/messages?access_token=[redacted]",
		Headers: []HTTPHeader{{"Content-Type", "application/json"}, {"Authorization", "Bearer [redacted]"}},
		Body:    `{"recipient":{"id":"7425"},"message":{"text":"Olá! <b>&</b> \"aspas\" \\ \n\t\r` + "\x01\x1f\u2028\u2029 ✓ 😀" + `"}}`}
	resp := &HTTPMessage{Status: 200, Headers: []HTTPHeader{{"Content-Type", "application/json"}}, Body: `{"message_id":"m_1"}`, Truncated: true}
	return []deliveryDetail{
		{},
		{Request: &HTTPMessage{}},
		{Request: req, Response: resp},
		{Request: req},
		{Exchanges: []Exchange{{Request: req, Response: resp, LatencyMS: 41}, {Request: req, LatencyMS: 0, Error: "dial tcp: refused"}}, Omitted: 3},
		{Exchanges: []Exchange{{LatencyMS: -1}}},
		{Request: &HTTPMessage{Status: -1, Headers: []HTTPHeader{{"", ""}}}},
	}
}

// What appendJSON writes reads back as what json.Marshal writes.
func TestDeliveryDetailJSON(t *testing.T) {
	for i, d := range sampleDetails() {
		checkDetailJSON(t, i, d)
	}
	// Bytes that are not UTF-8 become U+FFFD, as json.Marshal makes them.
	d := deliveryDetail{Request: &HTTPMessage{Body: "a\xffb\xc3"}}
	got := string(d.appendJSON(nil))
	if want := `{"request":{"body":"a\ufffdb\ufffd"}}`; got != want {
		t.Errorf("appendJSON = %s, want %s", got, want)
	}
}

func checkDetailJSON(t *testing.T, i int, d deliveryDetail) {
	t.Helper()
	b := d.appendJSON(nil)
	if !json.Valid(b) {
		t.Fatalf("detail %d: appendJSON wrote invalid JSON: %s", i, b)
	}
	want, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got, exp deliveryDetail
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("detail %d: %v", i, err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("detail %d: appendJSON reads back as %+v, json.Marshal as %+v\n%s\n%s", i, got, exp, b, want)
	}
	// The same members in the same order: only escapes may differ.
	var gm, em []string
	for _, k := range []string{"request", "response", "exchanges", "exchanges_omitted", "method", "url", "status", "headers", "body_truncated", "latency_ms", "error"} {
		if strings.Contains(string(b), `"`+k+`":`) {
			gm = append(gm, k)
		}
		if strings.Contains(string(want), `"`+k+`":`) {
			em = append(em, k)
		}
	}
	if !reflect.DeepEqual(gm, em) {
		t.Errorf("detail %d: members %v, json.Marshal writes %v", i, gm, em)
	}
}

func FuzzDeliveryDetailJSON(f *testing.F) {
	f.Add("POST", "https://x/y?z=1", "Content-Type", "application/json", `{"a":"b"}`, "boom", 200, int64(12), true)
	f.Add("", "", "", "", "\x00\x7f\xff\u2028", "", 0, int64(0), false)
	f.Fuzz(func(t *testing.T, method, url, hname, hvalue, body, errText string, status int, latency int64, cut bool) {
		m := &HTTPMessage{Method: method, URL: url, Status: status, Body: body, Truncated: cut}
		if hname != "" || hvalue != "" {
			m.Headers = []HTTPHeader{{hname, hvalue}}
		}
		checkDetailJSON(t, 0, deliveryDetail{Request: m, Response: m})
		checkDetailJSON(t, 1, deliveryDetail{Exchanges: []Exchange{{Request: m, Response: m, LatencyMS: latency, Error: errText}}, Omitted: status})
	})
}

package sdk

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRecordExchangesRedactsCredentials(t *testing.T) {
	const token, secret = "EAAG-token-123456", "app-secret-abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Set-Cookie", "sid=abc")
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":"slow down","echo":"`+token+`"}`)
	}))
	defer srv.Close()

	ctx, rec := RecordExchanges(context.Background(), token, secret)
	body := `{"text":"hi","token":"` + token + `"}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
		srv.URL+"/v25.0/me/messages?access_token="+token+"&appsecret_proof=f00d&fields=name", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-API-TOKEN", "zenvia-token-xyz")
	req.Header.Set("Content-Type", "application/json")
	resp, err := NewHTTPClient(0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()

	list := rec.List()
	if len(list) != 1 {
		t.Fatalf("recorded %d exchanges, want 1", len(list))
	}
	e := list[0]
	all := e.Url + string(e.RequestBody) + string(e.ResponseBody)
	for _, h := range append(e.RequestHeaders, e.ResponseHeaders...) {
		all += h.Name + ": " + h.Value + "\n"
	}
	for _, s := range []string{token, secret, "f00d", "zenvia-token-xyz", "sid=abc"} {
		if strings.Contains(all, s) {
			t.Errorf("the exchange keeps %q:\n%s", s, all)
		}
	}
	for _, s := range []string{"access_token=" + Redacted, "appsecret_proof=" + Redacted, "fields=name",
		"Authorization: Bearer " + Redacted, "X-Api-Token: " + Redacted, "Retry-After: 3", `"text":"hi"`, "slow down"} {
		if !strings.Contains(all, s) {
			t.Errorf("the exchange lacks %q:\n%s", s, all)
		}
	}
	if e.Method != "POST" || e.Status != 429 || e.Error != "" {
		t.Errorf("exchange = %s %d (error %q), want POST 429 without error", e.Method, e.Status, e.Error)
	}
}

func TestRecordExchangesBoundsBodies(t *testing.T) {
	const secret = "a-long-enough-secret"
	big := bytes.Repeat([]byte("x"), MaxExchangeBody-5)
	// The secret straddles the cut: it is hidden, never half shown.
	answer := append(append([]byte{}, big...), []byte(secret+strings.Repeat("y", 100))...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(answer) }))
	defer srv.Close()
	ctx, rec := RecordExchanges(context.Background(), secret)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, bytes.NewReader(bytes.Repeat([]byte("z"), 3*MaxExchangeBody)))
	resp, err := NewHTTPClient(0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, answer) {
		t.Errorf("the caller read %d bytes, want the whole answer (%d)", len(got), len(answer))
	}
	e := rec.List()[0]
	if len(e.RequestBody) != MaxExchangeBody || !e.RequestTruncated || len(e.ResponseBody) != MaxExchangeBody || !e.ResponseTruncated {
		t.Errorf("kept bodies of %d and %d bytes (truncated %v, %v), want both cut to %d", len(e.RequestBody),
			len(e.ResponseBody), e.RequestTruncated, e.ResponseTruncated, MaxExchangeBody)
	}
	if bytes.Contains(e.ResponseBody, []byte(secret[:5])) {
		t.Errorf("the kept answer ends %q: part of the secret", e.ResponseBody[len(e.ResponseBody)-20:])
	}
}

func TestRecordExchangesKeepsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	ctx, rec := RecordExchanges(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/x?access_token=tok-123456", nil)
	if _, err := NewHTTPClient(0).Do(req); err == nil {
		t.Fatal("a call to a closed port succeeded")
	}
	list := rec.List()
	if len(list) != 1 || list[0].Error == "" || list[0].Status != 0 || strings.Contains(list[0].Error+list[0].Url, "tok-123456") {
		t.Errorf("exchanges = %v, want one with the error, no status and no token", list)
	}
	// Outside RecordExchanges nothing is kept.
	req, _ = http.NewRequest(http.MethodGet, url, nil)
	NewHTTPClient(0).Do(req)
	if n := len(rec.List()); n != 1 {
		t.Errorf("a call outside the recording context was recorded (%d exchanges)", n)
	}
}

func TestRedactorQueryAndURL(t *testing.T) {
	r := NewRedactor("s3cret-value")
	for _, c := range []struct{ in, want string }{
		{"hub.mode=subscribe&hub.verify_token=abc&hub.challenge=42", "hub.mode=subscribe&hub.verify_token=" + Redacted + "&hub.challenge=42"},
		{"a=1&note=s3cret-value", "a=1&note=" + Redacted},
		{"", ""},
	} {
		if got := r.Query(c.in); got != c.want {
			t.Errorf("Query(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := r.URL("https://user:pw@api.example/v2?key=k&x=1"); got != "https://"+"%5Bredacted%5D@api.example/v2?key="+Redacted+"&x=1" {
		t.Errorf("URL = %q", got)
	}
}

// Body hides every secret it holds, and hands back a body that holds none
// as it is, uncopied.
func TestRedactorBody(t *testing.T) {
	r := NewRedactor("app-secret-abcdef", "EAAG-token-123456")
	in := []byte(`{"a":"app-secret-abcdef","b":"EAAG-token-123456 and app-secret-abcdef"}`)
	got, cut := r.Body(in)
	if want := `{"a":"` + Redacted + `","b":"` + Redacted + ` and ` + Redacted + `"}`; string(got) != want || cut {
		t.Errorf("Body = %s, %v; want %s", got, cut, want)
	}
	if !strings.Contains(string(in), "app-secret-abcdef") {
		t.Errorf("Body changed its argument: %s", in)
	}
	clean := []byte(`{"text":"oi"}`)
	if got, _ := r.Body(clean); string(got) != string(clean) || &got[0] != &clean[0] {
		t.Errorf("Body of a body without secrets = %s (a copy: %v)", got, &got[0] != &clean[0])
	}
}

func TestRedactorHeader(t *testing.T) {
	r := NewRedactor("a-long-enough-secret")
	for _, c := range []struct{ name, value, want string }{
		{"X-Hub-Signature-256", "sha256=abc", Redacted},
		{"x-hub-signature-256", "sha256=abc", Redacted},
		{"AUTHORIZATION", "Bearer tok", "Bearer " + Redacted},
		{"Authorization", "tok", Redacted},
		{"Cookie", "a=b", Redacted},
		{"Content-Type", "application/json", "application/json"},
		{"X-Trace", "has a-long-enough-secret in it", "has " + Redacted + " in it"},
		// Longer than the stack buffer: still matched by name.
		{"X-A-Header-Name-Longer-Than-Thirty-Two", "v", "v"},
		// Folded as strings.ToLower folds it (the Kelvin sign is a k).
		{"X-Api-\u212aey", "v", Redacted},
		{"Api-Kéy", "v", "v"},
	} {
		if got := r.Header(c.name, c.value); got != c.want {
			t.Errorf("Header(%q, %q) = %q, want %q", c.name, c.value, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { r.Header("Content-Type", "application/json") }); n != 0 {
		t.Errorf("Header of a plain header allocated %v times", n)
	}
}

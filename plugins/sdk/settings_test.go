package sdk

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSettings(t *testing.T) {
	s, err := ParseSettings([]byte(`{"id": 17841400000000001, "tag": "true", "off": false, "name": "  ana  ", "list": [1]}`))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"id": "17841400000000001", "name": "ana", "off": "false", "list": "", "none": ""} {
		if got := s.String(key); got != want {
			t.Errorf("String(%q) = %q, want %q", key, got, want)
		}
	}
	for key, want := range map[string]bool{"tag": true, "off": false, "name": false, "none": false} {
		if got := s.Bool(key); got != want {
			t.Errorf("Bool(%q) = %v, want %v", key, got, want)
		}
	}
	for _, raw := range []string{"", "  "} {
		if s, err := ParseSettings([]byte(raw)); err != nil || len(s) != 0 {
			t.Errorf("ParseSettings(%q) = %v, %v; want no settings", raw, s, err)
		}
	}
	for _, raw := range []string{"null", "[1]", "{", `"x"`} {
		if _, err := ParseSettings([]byte(raw)); err == nil {
			t.Errorf("ParseSettings(%q) succeeded, want an error", raw)
		}
	}
}

func TestHTTPClientDoesNotFollowRedirects(t *testing.T) {
	var leaked bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { leaked = true }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer redirect.Close()
	req, _ := http.NewRequest("GET", redirect.URL, nil)
	req.Header.Set("X-API-TOKEN", "secret")
	resp, err := NewHTTPClient(0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || leaked {
		t.Errorf("status %d, followed = %v; want the 302 itself and no request to the target", resp.StatusCode, leaked)
	}
}

package sdk

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
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

func TestSettingsCache(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	c := NewSettingsCache(func(raw []byte) (string, Problems) {
		mu.Lock()
		calls[string(raw)]++
		mu.Unlock()
		s, problems := ReadSettings(raw)
		return s.String("name"), problems
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if v, p := c.Get([]byte(`{"name":"ana"}`)); v != "ana" || len(p) != 0 {
					t.Errorf(`Get({"name":"ana"}) = %q, %v`, v, p)
				}
				if _, p := c.Get([]byte(`[1]`)); len(p) != 1 {
					t.Errorf("Get([1]) = %v, want one problem", p)
				}
			}
		}()
	}
	wg.Wait()
	// Concurrent first calls may each decode; never more than that.
	if n := calls[`{"name":"ana"}`]; n < 1 || n > 8 {
		t.Errorf("the same settings were decoded %d times", n)
	}
	// Changed settings are other bytes: decoded anew.
	if v, _ := c.Get([]byte(`{"name":"bia"}`)); v != "bia" {
		t.Errorf("changed settings read %q, want bia", v)
	}
	// What Get returns is shared: appending to its problems must not change
	// what the next caller gets.
	_, p := c.Get([]byte(`[1]`))
	_ = append(p, &proto.SettingsProblem{Field: "x"})
	if _, again := c.Get([]byte(`[1]`)); len(again) != 1 || again[0].GetField() != "" {
		t.Errorf("cached problems changed to %v", again)
	}
	// A full cache starts over rather than growing.
	for i := range maxCachedSettings + 10 {
		c.Get([]byte(fmt.Sprintf(`{"name":"%d"}`, i)))
	}
	if n := len(c.m); n > maxCachedSettings {
		t.Errorf("the cache holds %d settings, more than %d", n, maxCachedSettings)
	}
}

package pluginhost

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidJSON holds validJSON to json.Valid's answer:
//
//	go test -run XXX -fuzz FuzzValidJSON -fuzztime 30s ./core/pluginhost
func FuzzValidJSON(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("..", "..", "plugins", "meta", "testdata", "*.json"))
	for _, name := range names {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"", " ", "{}", "[]", `""`, "0", "-0", "01", "1.", "1e", "1e+5", "-1.5E-3", ".5", "+1",
		"true", "tru", "nulll", `{"a":1,}`, `[1,]`, `{"a" : [1, {"b": null}] }`, `"\u00e9\ud83d\ude00"`, `"\x"`,
		`"\u12"`, "\"a\tb\"", "\"\xff\"", "\v{}", "{}\v", `{"a":1}x`, `{"a"}`, `{1:2}`, `[` + strings.Repeat("[", 300) + `]`,
		strings.Repeat("[", 200) + strings.Repeat("]", 200)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	raw := []byte(hopBody)
	for _, bc := range []struct {
		name  string
		valid func([]byte) bool
	}{{"encoding-json", json.Valid}, {"fast", validJSON}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if !bc.valid(raw) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

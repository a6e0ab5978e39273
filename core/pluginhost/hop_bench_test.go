package pluginhost

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/meta"
	"github.com/conversa/conversa/plugins/sdk"
)

// The plugin round trip of one webhook: the host's client, gRPC over the
// unix socket, the real Meta channel in a plugin process (this test binary
// re-executed, as conversa re-executes itself), and back.
//
//	go test -run XXX -bench WebhookHop -benchmem ./core/pluginhost

const hopSecret = "3f7a1c9e5b2d4f6081a2c3e4d5f60718"

func init() {
	plugins["meta"] = func() { sdk.Serve(sdk.Plugin{Name: meta.Name, Version: meta.Version, Channel: meta.New()}) }
}

// hopBody is a delivery as Meta sends it: one text message, compact.
const hopBody = `{"object":"instagram","entry":[{"time":1767607200612,"id":"17841400123456789","messaging":[{"sender":{"id":"7425819036458213"},"recipient":{"id":"17841400123456789"},"timestamp":1767607200000,"message":{"mid":"aWdfaXRlbToxOklHTWVzc2FnZUlEOjE3ODQxNDAwMTIzNDU2Nzg5OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAyMzg1MTIzNDU2NzozMTk4NzY1NDMyMTA5ODc2NTQzMjEwMDAwMDAwMDAwMQ","text":"Hi! Is the blue jacket still available in size M?"}}]}]}`

// hopRequest is the request the engine builds for hopBody: the headers a
// Meta POST carries, and the integration's settings.
func hopRequest(b testing.TB) *WebhookRequest {
	settings := hopSettings(b, "")
	m := hmac.New(sha256.New, []byte(hopSecret))
	m.Write([]byte(hopBody))
	return &WebhookRequest{
		Integrations: []*Integration{{ID: "ig", SettingsJSON: settings}},
		Method:       "POST", Path: "/webhooks/ig",
		Headers: []Header{{"Host", "conversa.example.com"}, {"User-Agent", "facebookexternalua"},
			{"Content-Type", "application/json"}, {"Content-Length", strconv.Itoa(len(hopBody))},
			{"Accept", "*/*"}, {"Accept-Encoding", "deflate, gzip"}, {"X-Forwarded-For", "173.252.127.1"},
			{"X-Hub-Signature", "sha1=0d5c0f6d0d8c4e9c1fd1fbaa6a1b6c0e1f2a3b4c"},
			{"X-Hub-Signature-256", "sha256=" + hex.EncodeToString(m.Sum(nil))}},
		Body: []byte(hopBody),
	}
}

// hopSettings is the Meta integration's settings the hop benchmarks use;
// graphURL, when set, is the Graph API the plugin calls.
func hopSettings(b testing.TB, graphURL string) []byte {
	s := map[string]any{"account_id": "17841400123456789", "app_secret": hopSecret,
		"verify_token": "2c3f6a9d0e1b4c7f8a2d5e0b3c6f9a1d", "access_token": "IGAAR" + strings.Repeat("x9Zq", 45),
		"login": "instagram"}
	if graphURL != "" {
		s["graph_url"] = graphURL
	}
	raw, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func BenchmarkWebhookHop(b *testing.B) {
	h, err := New(Options{Self: os.Args[0], Builtins: []string{"meta"}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	benchHop(b, h, "meta")
}

// benchHop runs HandleWebhook against a started plugin from many
// goroutines, and reports besides ns/op the CPU each process spent per
// webhook (host-cpu-ns/op, plugin-cpu-ns/op).
func benchHop(b *testing.B, h *Host, name string) {
	ctx := context.Background()
	ch := startedChannel(b, h, name)
	req := hopRequest(b)
	measureHop(b, h, name, func() {
		resp, err := ch.HandleWebhook(ctx, req)
		if err != nil || !resp.Authenticated || len(resp.Events) != 1 {
			b.Fatalf("HandleWebhook = %+v, %v", resp, err)
		}
	})
}

// startedChannel starts the named channel plugin and returns it.
func startedChannel(b *testing.B, h *Host, name string) Channel {
	if err := h.Start(context.Background(), name); err != nil {
		b.Fatal(err)
	}
	ch, err := h.Channel(name)
	if err != nil {
		b.Fatal(err)
	}
	return ch
}

// measureHop runs call, one call to the plugin, from many goroutines, and
// reports besides ns/op the CPU each process spent per call.
func measureHop(b *testing.B, h *Host, name string, call func()) {
	for range 200 { // warm the connection and both processes
		call()
	}
	pid := 0
	for _, st := range h.Statuses() {
		if st.Name == name {
			pid = st.PID
		}
	}
	b.ReportAllocs()
	b.SetParallelism(8)
	host0, plug0 := selfCPU(), procCPU(b, pid)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call()
		}
	})
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(selfCPU()-host0)/n, "host-cpu-ns/op")
	b.ReportMetric(float64(procCPU(b, pid)-plug0)/n, "plugin-cpu-ns/op")
	b.ReportMetric(procRSS(pid), "plugin-rss-MB")
}

// procRSS is a process's resident memory in MB, from /proc (Linux).
func procRSS(pid int) float64 {
	raw, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// selfCPU is this process's user and system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user and system time, from /proc (Linux).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz
}

package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/conversa/conversa/core/events"
)

// BenchmarkFanOutDelivery measures the fan-out alone: from an event's
// publication on the engine's bus to its arrival on each of N open streams,
// with the server in process as serve.go wires it (SQLite store, engine,
// agents, the Fiber server on loopback) and clients on raw connections on
// the same machine (64 KB reads, a look for one field per frame). The
// events are published open-loop at R per second, each a message-sized
// event (about 500 bytes of JSON) carrying its publication time; the
// streams are an admin's (every event to every stream).
//
// Reported: p50/p99/max in ms, delivered/expected (a stream the server
// ends is not reopened: what it misses is lost), and the CPU the whole
// test process used, server and clients together, in % of one core.
//
//	go test ./core/server -run XXX -bench FanOutDelivery -benchtime 1x
//
// FANOUT_SECONDS (default 5) sets each case's duration.
func BenchmarkFanOutDelivery(b *testing.B) {
	secs := 5
	if n, err := strconv.Atoi(os.Getenv("FANOUT_SECONDS")); err == nil && n > 0 {
		secs = n
	}
	for _, n := range []int{100, 500} {
		for _, rate := range []int{200, 500, 1000} {
			b.Run(fmt.Sprintf("streams-%d/rate-%d", n, rate), func(b *testing.B) { benchDelivery(b, n, rate, secs) })
		}
	}
}

func benchDelivery(b *testing.B, n, rate, secs int) {
	ls := newLiveServer(b)
	addr := strings.TrimPrefix(ls.url, "http://")
	total := rate * secs
	clients := make([]*deliveryClient, n)
	for i := range clients {
		c, err := openDeliveryClient(addr, ls.tokens["boss"], total)
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
		b.Cleanup(func() { c.conn.Close() })
	}
	time.Sleep(500 * time.Millisecond)
	text := strings.Repeat("a message of an ordinary length. ", 10)
	cpu0 := processCPU()
	b.ResetTimer()
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		ls.bus.Publish(events.Event{Type: events.Message, Conversation: int64(i%400 + 1), Squad: "geral",
			Data: map[string]any{"n": i, "t": time.Now().UnixNano(), "direction": "in", "text": text}})
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for _, c := range clients {
			if c.count() < total {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU() - cpu0
	var lat []time.Duration
	delivered, ended := 0, 0
	for _, c := range clients {
		c.mu.Lock()
		lat = append(lat, c.lat...)
		delivered += c.unique
		if c.ended {
			ended++
		}
		c.mu.Unlock()
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(int(p*float64(len(lat))), len(lat)-1)]) / 1e6
	}
	expected := total * n
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(delivered)/float64(expected), "delivered/expected")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu-%")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d streams, %d/s for %ds: p50 %.1f ms, p99 %.1f ms, max %.1f ms; delivered %d of %d; %d streams ended by the server; CPU (server and clients) %.0f%% of a core",
		n, rate, secs, q(0.5), q(0.99), q(1), delivered, expected, ended, 100*cpu.Seconds()/elapsed.Seconds())
}

// deliveryClient reads one stream and records, per event, the time since
// the "t" (publication) in its data.
type deliveryClient struct {
	conn   net.Conn
	mu     sync.Mutex
	seen   []bool
	lat    []time.Duration
	unique int
	ended  bool
}

func openDeliveryClient(addr, token string, total int) (*deliveryClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "GET /api/v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", addr, token)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), nil)
	if err != nil || resp.StatusCode != 200 {
		conn.Close()
		return nil, fmt.Errorf("GET /api/v1/events: %v %v", resp, err)
	}
	c := &deliveryClient{conn: conn, seen: make([]bool, total), lat: make([]time.Duration, 0, total)}
	go c.read(resp.Body)
	return c, nil
}

func (c *deliveryClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unique
}

func (c *deliveryClient) read(body io.Reader) {
	buf := make([]byte, 64<<10)
	have := 0
	nField, tField := []byte(`"n":`), []byte(`"t":`)
	num := func(f []byte, key []byte) (int64, bool) {
		i := bytes.Index(f, key)
		if i < 0 {
			return 0, false
		}
		f = f[i+len(key):]
		j := 0
		for j < len(f) && f[j] >= '0' && f[j] <= '9' {
			j++
		}
		v, err := strconv.ParseInt(string(f[:j]), 10, 64)
		return v, err == nil
	}
	for {
		n, err := body.Read(buf[have:])
		now := time.Now()
		have += n
		data := buf[:have]
		c.mu.Lock()
		for {
			i := bytes.Index(data, []byte("\n\n"))
			if i < 0 {
				break
			}
			f := data[:i]
			data = data[i+2:]
			k, ok1 := num(f, nField)
			t, ok2 := num(f, tField)
			if !ok1 || !ok2 || k < 0 || int(k) >= len(c.seen) || c.seen[k] {
				continue
			}
			c.seen[k] = true
			c.unique++
			c.lat = append(c.lat, now.Sub(time.Unix(0, t)))
		}
		if err != nil {
			c.ended = true
		}
		c.mu.Unlock()
		have = copy(buf, data)
		if have == len(buf) {
			have = 0
		}
		if err != nil {
			return
		}
	}
}

// processCPU is the CPU this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

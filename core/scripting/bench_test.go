package scripting

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// benchRouting is a realistic routing.lua: a VIP table, a keyword scan and
// the business-hours check.
const benchRouting = `
local VIP = {["maria.silva"] = "ana", ["lojas_abc"] = "ana", ["joao.costa"] = "bruno"}
local KEYWORDS = {"preço", "preco", "comprar", "orçamento", "price", "buy"}

function route(ev)
  local agent = VIP[ev.contact.username:lower()]
  if agent then
    return {to = "agent", agent = agent}
  end
  if ev.message.type == "text" then
    local text = ev.message.text:lower()
    for _, word in ipairs(KEYWORDS) do
      if text:find(word, 1, true) then
        return {to = "squad", squad = "vendas", priority = 10}
      end
    end
  end
  local t = os.date("!*t", ev.now - 3 * 3600)
  if t.wday >= 2 and t.wday <= 6 and t.hour >= 9 and t.hour < 18 then
    return {to = "squad", squad = "atendimento"}
  end
  return nil
end
`

// BenchmarkRoute measures one route call on the engine's pool, after a
// baseline of the same call on a Lua state made and closed for it; the pool
// result reports how many times faster it is than the baseline.
func BenchmarkRoute(b *testing.B) {
	ev := event("text", "Bom dia, qual o preço?")
	ev.Contact.Username = "someone"

	var freshNs float64 // ns/op of the baseline, for the ratio
	b.Run("fresh_state", func(b *testing.B) {
		proto, err := compile("routing.lua", []byte(benchRouting))
		if err != nil {
			b.Fatal(err)
		}
		sc := &script{hook: hookRoute, name: "routing.lua", chunk: "routing.lua", proto: proto}
		log := slog.New(slog.DiscardHandler)
		b.ReportAllocs()
		for b.Loop() {
			s, err := newSandbox(time.Now, log)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
			ret, _, err := s.call(ctx, sc, "route", s.eventValue(ev, ev.Now))
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			if r, _, err := s.decodeRoute(ret, ev); err != nil || r.Squad != "vendas" {
				b.Fatalf("route = %+v, %v", r, err)
			}
			s.close()
		}
		freshNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})

	b.Run("pool", func(b *testing.B) {
		dir := b.TempDir()
		if err := writeFile(dir, "routing.lua", benchRouting); err != nil {
			b.Fatal(err)
		}
		e, err := New(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		b.ReportAllocs()
		for b.Loop() {
			if r := e.Route(context.Background(), ev); r.Squad != "vendas" {
				b.Fatalf("Route = %+v", r)
			}
		}
		if freshNs > 0 {
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(freshNs/perOp, "x_faster_than_fresh_state")
		}
	})
}

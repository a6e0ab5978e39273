package metrics

import (
	"testing"
	"time"
)

// series counts the series of the named metric family.
func series(t *testing.T, m *Metrics, name string) int {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

func TestForgetDropsADeletedIntegrationsSeries(t *testing.T) {
	m := New()
	m.Webhook("ig-a", "accepted", time.Millisecond)
	m.Webhook("ig-b", "accepted", time.Millisecond)
	m.Webhook(Unknown, "not_found", time.Millisecond)
	m.Reply("ig-a", time.Second)
	m.Forget("ig-a")
	m.Forget(Unknown) // never: it stands for every stranger's id
	if got := series(t, m, "conversa_webhooks_total"); got != 2 {
		t.Errorf("conversa_webhooks_total has %d series after Forget, want 2 (ig-b and unknown)", got)
	}
	if got := series(t, m, "conversa_reply_latency_seconds"); got != 0 {
		t.Errorf("conversa_reply_latency_seconds has %d series after Forget, want 0", got)
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.Webhook("x", "accepted", 0)
	m.Events(1, 1)
	m.PluginCall("p", "Send", 0)
	m.Hook("route", 0)
	m.Send("meta", "sent", 0)
	m.Reply("x", 0)
	m.Forget("x")
}

func TestStateIsReadAtScrape(t *testing.T) {
	m := New()
	up := false
	m.Watch(State{Leader: func() bool { return up }, Plugins: func() []Plugin { return []Plugin{{Name: "meta", Up: up, Restarts: 2}} }})
	up = true
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			switch {
			case s.GetGauge() != nil:
				got[f.GetName()] = s.GetGauge().GetValue()
			case s.GetCounter() != nil:
				got[f.GetName()] = s.GetCounter().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{"conversa_cluster_leader": 1, "conversa_plugin_up": 1, "conversa_plugin_restarts_total": 2} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}

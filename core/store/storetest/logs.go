package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

func auditActions(es []*store.AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Action + " " + e.Target
	}
	return out
}

func (f *fixture) audit(filter store.AuditFilter) []string {
	f.t.Helper()
	es, err := f.s.Audit().List(f.ctx, filter)
	f.must(err, "Audit().List(%+v)", filter)
	return auditActions(es)
}

func testAudit(t *testing.T, open Open) {
	t.Run("AddAndList", func(t *testing.T) {
		f := setup(t, open)
		e := &store.AuditEntry{Actor: "boss", Action: "integration.create", Target: "ig1", IP: "192.0.2.7",
			Detail: "settings: access_token, account_id"}
		f.must(f.s.Audit().Add(f.ctx, e), "Audit().Add")
		if e.ID == 0 || !sameTime(e.At, Epoch) {
			t.Errorf("Audit().Add set id %d, at %v; want an id and the store's time %v", e.ID, e.At, Epoch)
		}
		later := f.clock.Advance(time.Minute)
		f.must(f.s.Audit().Add(f.ctx, &store.AuditEntry{Actor: "ana", Action: "agent.password", Target: "ana"}), "Audit().Add")
		got, err := f.s.Audit().List(f.ctx, store.AuditFilter{})
		f.must(err, "Audit().List")
		if len(got) != 2 {
			t.Fatalf("Audit().List() = %v, want 2 entries", auditActions(got))
		}
		if got[0].Action != "agent.password" || !sameTime(got[0].At, later) {
			t.Errorf("newest entry = %+v, want agent.password at %v first", got[0], later)
		}
		first := *got[1]
		first.At = e.At
		if first != *e {
			t.Errorf("stored entry = %+v, want %+v", *got[1], *e)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		f := setup(t, open)
		for _, e := range []store.AuditEntry{
			{Actor: "boss", Action: "agent.create", Target: "ana"},
			{Actor: "boss", Action: "agent.password", Target: "ana"},
			{Actor: "root", Action: "agent.status", Target: "ana"},
			{Actor: "boss", Action: "agents.bogus", Target: "x"},
			{Actor: "boss", Action: "canned_response.create", Target: "7"},
			{Actor: "root", Action: "integration.delete", Target: "ig1"},
		} {
			f.clock.Advance(time.Second)
			f.must(f.s.Audit().Add(f.ctx, &e), "Audit().Add(%s)", e.Action)
		}
		for _, c := range []struct {
			filter store.AuditFilter
			want   []string
		}{
			{store.AuditFilter{Actor: "root"}, []string{"integration.delete ig1", "agent.status ana"}},
			{store.AuditFilter{Action: "agent"}, []string{"agent.status ana", "agent.password ana", "agent.create ana"}},
			{store.AuditFilter{Action: "agent.password"}, []string{"agent.password ana"}},
			{store.AuditFilter{Action: "canned_response"}, []string{"canned_response.create 7"}},
			{store.AuditFilter{Action: "agent", Actor: "boss"}, []string{"agent.password ana", "agent.create ana"}},
			{store.AuditFilter{Action: "agen"}, []string{}},
			{store.AuditFilter{Limit: 2}, []string{"integration.delete ig1", "canned_response.create 7"}},
		} {
			if got := f.audit(c.filter); !slices.Equal(got, c.want) {
				t.Errorf("Audit().List(%+v) = %q, want %q", c.filter, got, c.want)
			}
		}
	})

	t.Run("LimitIsBounded", func(t *testing.T) {
		f := setup(t, open)
		f.tx(func(tx store.Tx) error {
			for i := range 105 {
				if err := tx.Audit().Add(f.ctx, &store.AuditEntry{Actor: "boss", Action: "agent.update", Target: fmt.Sprint(i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if got := f.audit(store.AuditFilter{}); len(got) != 100 {
			t.Errorf("Audit().List() without a limit = %d entries, want 100", len(got))
		}
		if got := f.audit(store.AuditFilter{Limit: 5000}); len(got) != 105 {
			t.Errorf("Audit().List(limit 5000) = %d entries, want all 105", len(got))
		}
	})

	t.Run("CommitsWithTheChange", func(t *testing.T) {
		f := setup(t, open)
		err := f.s.Tx(f.ctx, func(tx store.Tx) error {
			a := &model.Agent{ID: "ana", Login: "ana", Name: "Ana", Role: model.RoleAgent, MaxChats: 2}
			if err := tx.Agents().Create(f.ctx, a, "h"); err != nil {
				return err
			}
			if err := tx.Audit().Add(f.ctx, &store.AuditEntry{Actor: "boss", Action: "agent.create", Target: "ana"}); err != nil {
				return err
			}
			return errAbort
		})
		wantIs(t, "Tx(Agents().Create, Audit().Add, fail)", err, errAbort)
		if got := f.audit(store.AuditFilter{}); len(got) != 0 {
			t.Errorf("Audit().List() after a rolled back Tx = %q, want none", got)
		}
		f.tx(func(tx store.Tx) error {
			a := &model.Agent{ID: "ana", Login: "ana", Name: "Ana", Role: model.RoleAgent, MaxChats: 2}
			if err := tx.Agents().Create(f.ctx, a, "h"); err != nil {
				return err
			}
			return tx.Audit().Add(f.ctx, &store.AuditEntry{Actor: "boss", Action: "agent.create", Target: "ana"})
		})
		if got := f.audit(store.AuditFilter{}); !slices.Equal(got, []string{"agent.create ana"}) {
			t.Errorf("Audit().List() after a committed Tx = %q, want the entry", got)
		}
	})
}

func deliveryIDs(ds []*store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Direction + " " + d.MessageID + " " + d.Outcome
	}
	return out
}

func (f *fixture) deliveries(filter store.DeliveryFilter) []string {
	f.t.Helper()
	ds, err := f.s.Deliveries().List(f.ctx, filter)
	f.must(err, "Deliveries().List(%+v)", filter)
	return deliveryIDs(ds)
}

func testDeliveries(t *testing.T, open Open) {
	t.Run("AddAndList", func(t *testing.T) {
		f := setup(t, open)
		received := Epoch.Add(-time.Minute)
		detail := []byte(`{"request":{"method":"POST","body":"{\"text\":\"olá\"}"},"response":{"status":200}}`)
		in := &store.Delivery{Integration: "ig1", At: received, Direction: store.DeliveryIn, MessageID: "mid.1",
			ProviderMessageIDs: []string{"mid.1", "mid.2"}, Outcome: "stored", HTTPStatus: 200, LatencyMS: 12, Detail: detail}
		out := &store.Delivery{Integration: "ig1", Direction: store.DeliveryOut, MessageID: "42", Outcome: "retry",
			HTTPStatus: 500, LatencyMS: 800, Error: "Zenvia answered 500"}
		other := &store.Delivery{Integration: "ig2", Direction: store.DeliveryIn, Outcome: "unauthorized", HTTPStatus: 401}
		f.must(f.s.Deliveries().Add(f.ctx, in, out, other), "Deliveries().Add")
		if in.ID == 0 || out.ID == 0 || other.ID == 0 || in.ID == out.ID {
			t.Errorf("ids after Add = %d, %d, %d; want distinct ids", in.ID, out.ID, other.ID)
		}
		if !sameTime(in.At, received) || !sameTime(out.At, Epoch) {
			t.Errorf("at after Add = %v, %v; want the given time %v, and the store's %v when none", in.At, out.At, received, Epoch)
		}
		got, err := f.s.Deliveries().List(f.ctx, store.DeliveryFilter{Integration: "ig1"})
		f.must(err, "Deliveries().List(ig1)")
		if ids := deliveryIDs(got); !slices.Equal(ids, []string{"out 42 retry", "in mid.1 stored"}) {
			t.Fatalf("Deliveries().List(ig1) = %q, want ig1's two, newest first", ids)
		}
		g := got[1]
		if g.Integration != "ig1" || g.HTTPStatus != 200 || g.LatencyMS != 12 || !bytes.Equal(g.Detail, detail) ||
			!slices.Equal(g.ProviderMessageIDs, []string{"mid.1", "mid.2"}) || !sameTime(g.At, received) {
			t.Errorf("stored delivery = %+v (detail %s), want %+v (detail %s)", *g, g.Detail, *in, detail)
		}
		if g := got[0]; g.Error != "Zenvia answered 500" || g.HTTPStatus != 500 || g.Detail != nil || len(g.ProviderMessageIDs) != 0 {
			t.Errorf("stored send = %+v, want %+v", *g, *out)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		f := setup(t, open)
		for _, d := range []store.Delivery{
			{Direction: store.DeliveryIn, MessageID: "mid.1", ProviderMessageIDs: []string{"mid.1", "mid.10"}, Outcome: "stored"},
			{Direction: store.DeliveryIn, MessageID: "mid.10", ProviderMessageIDs: []string{"mid.10"}, Outcome: "duplicate"},
			{Direction: store.DeliveryIn, Outcome: "unauthorized"},
			{Direction: store.DeliveryOut, MessageID: "7", ProviderMessageIDs: []string{"m_7a", "m_7b"}, Outcome: "sent"},
			{Direction: store.DeliveryOut, MessageID: "7", Outcome: "retry"},
		} {
			f.clock.Advance(time.Second)
			d.Integration = "ig1"
			f.must(f.s.Deliveries().Add(f.ctx, &d), "Deliveries().Add")
		}
		for _, c := range []struct {
			filter store.DeliveryFilter
			want   []string
		}{
			{store.DeliveryFilter{MessageID: "mid.1"}, []string{"in mid.1 stored"}},
			{store.DeliveryFilter{MessageID: "mid.10"}, []string{"in mid.10 duplicate", "in mid.1 stored"}},
			{store.DeliveryFilter{MessageID: "mid"}, []string{}},
			{store.DeliveryFilter{MessageID: "7"}, []string{"out 7 retry", "out 7 sent"}},
			{store.DeliveryFilter{MessageID: "m_7b"}, []string{"out 7 sent"}},
			{store.DeliveryFilter{Outcome: "unauthorized"}, []string{"in  unauthorized"}},
			{store.DeliveryFilter{Direction: store.DeliveryOut, Limit: 1}, []string{"out 7 retry"}},
			{store.DeliveryFilter{Direction: store.DeliveryIn, Outcome: "sent"}, []string{}},
		} {
			c.filter.Integration = "ig1"
			if got := f.deliveries(c.filter); !slices.Equal(got, c.want) {
				t.Errorf("Deliveries().List(%+v) = %q, want %q", c.filter, got, c.want)
			}
		}
		if got := f.deliveries(store.DeliveryFilter{Integration: "ig2"}); len(got) != 0 {
			t.Errorf("Deliveries().List(ig2) = %q, want none: they are ig1's", got)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		f := setup(t, open)
		for i := range 5 {
			f.must(f.s.Deliveries().Add(f.ctx, &store.Delivery{Integration: "ig1", Direction: store.DeliveryIn,
				MessageID: fmt.Sprint("m", i), At: Epoch.Add(time.Duration(i) * time.Hour), Outcome: "stored"}), "Deliveries().Add")
		}
		cutoff := Epoch.Add(3 * time.Hour) // m0, m1, m2 are older
		n, err := f.s.Deliveries().Prune(f.ctx, cutoff, 2)
		f.must(err, "Deliveries().Prune")
		if got := f.deliveries(store.DeliveryFilter{Integration: "ig1"}); n != 2 || !slices.Equal(got, []string{"in m4 stored", "in m3 stored", "in m2 stored"}) {
			t.Errorf("Prune(cutoff, 2) = %d, left %q; want 2, the oldest two gone", n, got)
		}
		n, err = f.s.Deliveries().Prune(f.ctx, cutoff, 2)
		f.must(err, "Deliveries().Prune")
		if got := f.deliveries(store.DeliveryFilter{Integration: "ig1"}); n != 1 || !slices.Equal(got, []string{"in m4 stored", "in m3 stored"}) {
			t.Errorf("second Prune(cutoff, 2) = %d, left %q; want 1, nothing from the cutoff on gone", n, got)
		}
	})

	t.Run("CommitsWithTheEvents", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		err := f.s.Tx(f.ctx, func(tx store.Tx) error {
			if _, err := tx.Inbox().Add(f.ctx, &model.Event{Kind: model.EventMessage, DedupeKey: "d1", Integration: "ig1"}, "u1"); err != nil {
				return err
			}
			if err := tx.Deliveries().Add(f.ctx, &store.Delivery{Integration: "ig1", Direction: store.DeliveryIn, Outcome: "stored"}); err != nil {
				return err
			}
			return errAbort
		})
		wantIs(t, "Tx(Inbox().Add, Deliveries().Add, fail)", err, errAbort)
		if got := f.deliveries(store.DeliveryFilter{Integration: "ig1"}); len(got) != 0 {
			t.Errorf("Deliveries().List() after a rolled back Tx = %q, want none", got)
		}
	})
}

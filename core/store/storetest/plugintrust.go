package storetest

import (
	"testing"
	"time"

	"github.com/conversa/conversa/core/store"
)

func testPluginTrust(t *testing.T, open Open) {
	const sumA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	const sumB = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

	t.Run("NoPinIsNotFound", func(t *testing.T) {
		f := setup(t, open)
		_, err := f.s.PluginTrust().Pin(f.ctx, "echo")
		wantIs(t, "Pin(echo) before any trust", err, store.ErrNotFound)
		wantIs(t, "Untrust(echo) without a pin", f.s.PluginTrust().Untrust(f.ctx, "echo"), store.ErrNotFound)
		pins, err := f.s.PluginTrust().Pins(f.ctx)
		f.must(err, "Pins()")
		if len(pins) != 0 {
			t.Errorf("Pins() on an empty store = %+v, want none", pins)
		}
	})

	t.Run("TrustReplacesAndUntrustRemoves", func(t *testing.T) {
		f := setup(t, open)
		pt := f.s.PluginTrust()
		f.must(pt.Trust(f.ctx, "echo", sumA), "Trust(echo)")
		f.must(pt.Trust(f.ctx, "crm", sumA), "Trust(crm)")
		p, err := pt.Pin(f.ctx, "echo")
		f.must(err, "Pin(echo)")
		if p.Name != "echo" || p.SHA256 != sumA || !sameTime(p.TrustedAt, Epoch) {
			t.Errorf("Pin(echo) = %+v, want echo, %s, trusted at %v", p, sumA, Epoch)
		}

		// Trusting again (a new build) replaces the pin and its time.
		at := f.clock.Advance(time.Hour)
		f.must(pt.Trust(f.ctx, "echo", sumB), "Trust(echo) again")
		p, err = pt.Pin(f.ctx, "echo")
		f.must(err, "Pin(echo) after the second trust")
		if p.SHA256 != sumB || !sameTime(p.TrustedAt, at) {
			t.Errorf("Pin(echo) after trusting a new build = %+v, want %s at %v", p, sumB, at)
		}
		pins, err := pt.Pins(f.ctx)
		f.must(err, "Pins()")
		if len(pins) != 2 || pins[0].Name != "crm" || pins[1].Name != "echo" || pins[1].SHA256 != sumB {
			t.Errorf("Pins() = %+v, want crm then echo (the new build's sum), by name", pins)
		}

		f.must(pt.Untrust(f.ctx, "echo"), "Untrust(echo)")
		_, err = pt.Pin(f.ctx, "echo")
		wantIs(t, "Pin(echo) after Untrust", err, store.ErrNotFound)
		if p, err := pt.Pin(f.ctx, "crm"); err != nil || p.SHA256 != sumA {
			t.Errorf("Pin(crm) after untrusting echo = %+v, %v; want it kept", p, err)
		}
	})

	t.Run("InATransaction", func(t *testing.T) {
		f := setup(t, open)
		err := f.s.Tx(f.ctx, func(tx store.Tx) error {
			if err := tx.PluginTrust().Trust(f.ctx, "echo", sumA); err != nil {
				return err
			}
			return errAbort
		})
		wantIs(t, "Tx(Trust, then an error)", err, errAbort)
		_, err = f.s.PluginTrust().Pin(f.ctx, "echo")
		wantIs(t, "Pin(echo) after a rolled back Trust", err, store.ErrNotFound)
	})
}

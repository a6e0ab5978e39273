package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopenKeepsDataAndSkipsMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "meta", Squad: "geral", InactivityMinutes: 60, Enabled: true, Source: "config"}
	if err := s.Write(ctx, func(tx *Tx) error { return tx.PutIntegration(ctx, in) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Integration(ctx, "ig")
	if err != nil || got.Name != "IG" || got.Squad != "geral" {
		t.Errorf("Integration(ig) = %+v, %v", got, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 'x', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a schema from a newer binary")
	}
}

func TestGroupCommitIsolatesFailingWriters(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, func(tx *Tx) error {
				ev := &model.Event{Kind: "message", Integration: "ig", DedupeKey: fmt.Sprint(i)}
				if _, err := tx.AddInbox(ctx, ev, "p"); err != nil {
					return err
				}
				if i%4 == 0 {
					return errors.New("refused")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%4 == 0) != (err != nil) {
			t.Errorf("writer %d: err = %v", i, err)
		}
	}
	n, err := s.InboxBacklog(ctx)
	if err != nil || n != 30 {
		t.Errorf("backlog = %d, %v; want the 30 writers that succeeded", n, err)
	}
}

func TestInboxDeduplicates(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	add := func() bool {
		var added bool
		err := s.Write(ctx, func(tx *Tx) error {
			var err error
			added, err = tx.AddInbox(ctx, &model.Event{Kind: "message", Integration: "ig", DedupeKey: "mid.1"}, "u1")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return added
	}
	if !add() {
		t.Error("first AddInbox = false, want true")
	}
	if add() {
		t.Error("second AddInbox = true, want false (duplicate)")
	}
	items, err := s.PendingInbox(ctx, 0, time.Now(), 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("PendingInbox = %d items, %v", len(items), err)
	}
	if err := s.Write(ctx, func(tx *Tx) error { return tx.DoneInbox(ctx, items[0].ID, "") }); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.PendingInbox(ctx, 0, time.Now(), 10); len(items) != 0 {
		t.Errorf("PendingInbox after done = %d items", len(items))
	}
}

func TestOneOpenConversationPerContact(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	err := s.Write(ctx, func(tx *Tx) error {
		ct, err := tx.UpsertContact(ctx, "ig", "u1", ContactHints{Username: "ana"}, time.Now())
		if err != nil {
			return err
		}
		c1 := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		if err := tx.StartConversation(ctx, c1); err != nil {
			return err
		}
		c2 := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		if err := tx.StartConversation(ctx, c2); err == nil {
			return errors.New("a second open conversation was accepted")
		}
		c1.State = model.StateEnded
		if err := tx.SaveConversation(ctx, c1); err != nil {
			return err
		}
		return tx.StartConversation(ctx, c2)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestContactHintsKeepKnownValues(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var ct *model.Contact
	err := s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.UpsertContact(ctx, "ig", "u1", ContactHints{Username: "ana", Name: "Ana"}, time.UnixMilli(2000)); err != nil {
			return err
		}
		var err error
		ct, err = tx.UpsertContact(ctx, "ig", "u1", ContactHints{}, time.UnixMilli(1000))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ct.Username != "ana" || ct.Name != "Ana" || ct.LastInboundAt.UnixMilli() != 2000 {
		t.Errorf("contact = %+v; want hints kept and last inbound not moved back", ct)
	}
}

func TestMessageStatusOnlyMovesForward(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	err := s.Write(ctx, func(tx *Tx) error {
		ct, _ := tx.UpsertContact(ctx, "ig", "u1", ContactHints{}, time.Now())
		c := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		if err := tx.StartConversation(ctx, c); err != nil {
			return err
		}
		m := &model.Message{Conversation: c.ID, Integration: "ig", Author: model.AuthorAssistant,
			Contents: []model.Content{{Type: model.Text, Text: "hi"}}}
		if err := tx.Enqueue(ctx, m, "k1"); err != nil {
			return err
		}
		for _, step := range []struct {
			status  string
			changed bool
		}{{"sent", true}, {"read", true}, {"delivered", false}, {"sent", false}} {
			changed, err := tx.SetMessageStatus(ctx, m.ID, step.status, "")
			if err != nil {
				return err
			}
			if changed != step.changed {
				return fmt.Errorf("SetMessageStatus(%s) changed = %v, want %v", step.status, changed, step.changed)
			}
		}
		got, err := tx.Message(ctx, m.ID)
		if err != nil {
			return err
		}
		if got.Status != "read" {
			return fmt.Errorf("status = %s, want read", got.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAddMessageRecognizesKnownProviderIDs(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	err := s.Write(ctx, func(tx *Tx) error {
		ct, _ := tx.UpsertContact(ctx, "ig", "u1", ContactHints{}, time.Now())
		c := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		if err := tx.StartConversation(ctx, c); err != nil {
			return err
		}
		m := &model.Message{Conversation: c.ID, Integration: "ig", Author: model.AuthorAssistant}
		if err := tx.Enqueue(ctx, m, "k1"); err != nil {
			return err
		}
		if err := tx.AddProviderIDs(ctx, "ig", m.ID, "mid.a", "mid.b"); err != nil {
			return err
		}
		echo := &model.Message{Conversation: c.ID, Integration: "ig", Direction: "out", Author: model.AuthorBusiness}
		existing, err := tx.AddMessage(ctx, echo, "mid.b")
		if err != nil {
			return err
		}
		if !existing || echo.ID != m.ID || echo.ProviderMessageID != "mid.a" {
			return fmt.Errorf("AddMessage(echo) = %v, id %d (%s); want the sent message %d", existing, echo.ID, echo.ProviderMessageID, m.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

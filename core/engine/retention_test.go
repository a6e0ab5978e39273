package engine

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

func TestProcessedEventsArePrunedAfterTheRetention(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "one", "two")}
	r := startedRig(t, ch, &fakeAssistant{})
	ctx := context.Background()
	if _, err := r.e.Webhook(ctx, "ig", WebhookRequest{Method: "POST"}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+r.path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func() (all, waiting int) {
		t.Helper()
		if err := db.QueryRow(`SELECT count(*), count(*) - count(processed_at) FROM inbox`).Scan(&all, &waiting); err != nil {
			t.Fatal(err)
		}
		return all, waiting
	}
	eventually(t, "both events processed", func() bool { all, waiting := count(); return all == 2 && waiting == 0 })
	// Within the retention: kept.
	r.e.o.InboxRetention = time.Hour
	if n, err := r.e.PruneInbox(ctx); err != nil || n != 0 {
		t.Errorf("PruneInbox within the retention = %d, %v; want 0 removed", n, err)
	}
	// Past it: gone, and the conversation the events made stays.
	r.e.o.InboxRetention = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	if n, err := r.e.PruneInbox(ctx); err != nil || n != 2 {
		t.Errorf("PruneInbox past the retention = %d, %v; want the 2 processed events removed", n, err)
	}
	if all, _ := count(); all != 0 {
		t.Errorf("%d events left in the inbox, want 0", all)
	}
	var messages int
	if err := db.QueryRow(`SELECT count(*) FROM messages WHERE direction = 'in'`).Scan(&messages); err != nil || messages != 2 {
		t.Errorf("inbound messages after pruning = %d, %v; want 2: only the events are forgotten", messages, err)
	}
}

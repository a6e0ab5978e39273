package dbutil

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestMigrationsInOrderAndPending(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("ALTER x")},
		"m/0001_init.sql": {Data: []byte("CREATE x")},
	}
	all, err := Migrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Version != 1 || all[1].Name != "0002_more.sql" || len(all[0].Checksum) != 64 {
		t.Fatalf("Migrations = %+v, want 0001 then 0002 with checksums", all)
	}
	pending, err := Pending(all, map[int]string{1: all[0].Checksum})
	if err != nil || len(pending) != 1 || pending[0].Version != 2 {
		t.Fatalf("Pending after 0001 = %+v, %v; want 0002", pending, err)
	}
	if _, err := Pending(all, map[int]string{1: "edited"}); err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
		t.Errorf("an edited applied migration: %v, want a refusal", err)
	}
	if _, err := Pending(all, map[int]string{1: all[0].Checksum, 3: "x"}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("a database from a newer binary: %v, want a refusal", err)
	}
	if _, err := Migrations(fstest.MapFS{"m/init.sql": {}}, "m"); err == nil {
		t.Error("a migration without a number was accepted")
	}
}

func TestTimes(t *testing.T) {
	at := time.Date(2026, 12, 1, 15, 0, 0, 123e6, time.UTC)
	if got := FromMS(MS(at)); !got.Equal(at) {
		t.Errorf("FromMS(MS(%v)) = %v", at, got)
	}
	if MS(time.Time{}) != 0 || !FromMS(0).IsZero() || MSOrNull(nil) != nil || MSOrNull(&time.Time{}) != nil {
		t.Error("the zero time is not stored as 0 / NULL")
	}
	if NonNil(nil) == nil {
		t.Error("NonNil(nil) is nil")
	}
}

func TestProfileAt(t *testing.T) {
	now := time.UnixMilli(1_796_248_278_378)
	if got := ProfileAt(true, now); got != 1_796_248_278_378 {
		t.Errorf("ProfileAt(true) = %d, want now in ms", got)
	}
	if got := ProfileAt(false, now); got != 0 {
		t.Errorf("ProfileAt(false) = %d, want 0 (keep what is stored)", got)
	}
}

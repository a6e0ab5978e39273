package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkBackupBeforeMigration: the copy an upgrade makes before it
// migrates, page for page (copyPages, what Open does) and by VACUUM INTO
// (what it did before), of the growth benchmark's database with
// CONVERSA_GROWTH messages (default 100,000; CONVERSA_GROWTH_DIR reuses a
// database BenchmarkGrowth seeded):
//
//	CONVERSA_GROWTH=1000000 CONVERSA_GROWTH_DIR=/var/tmp/growth go test ./core/store/sqlite -run XXX -bench BackupBeforeMigration -benchtime 3x
func BenchmarkBackupBeforeMigration(b *testing.B) {
	n, dir := growthSettings(b)
	path := filepath.Join(dir, fmt.Sprintf("growth-%d.db", n))
	if _, err := os.Stat(path); err != nil {
		seedGrowth(b, path, n)
	}
	// Migrated and indexed, then closed: the file at rest, as an upgrade
	// finds it.
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.IndexSearch(context.Background()); err != nil {
		b.Fatal(err)
	}
	db.Close()
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	src, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	src.SetMaxOpenConns(1)
	for _, c := range []struct {
		name string
		copy func(context.Context, *sql.DB, string) error
	}{{"pages", copyPages}, {"vacuum", vacuumInto}} {
		b.Run(c.name, func(b *testing.B) {
			dst := filepath.Join(b.TempDir(), "copy.db")
			for b.Loop() {
				os.Remove(dst)
				if err := c.copy(context.Background(), src, dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(info.Size())/1e6, "MB")
		})
	}
}

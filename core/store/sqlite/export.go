package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// OpenForExport opens an existing database read-only for copying it
// elsewhere (conversa migrate), after applying pending migrations, so its
// tables are the ones this binary's other stores expect. Unlike Open it
// never creates the file: a mistyped path must not copy an empty install.
func OpenForExport(ctx context.Context, path string) (*sql.DB, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no SQLite database at %s", path)
	} else if err != nil {
		return nil, err
	}
	// Open migrates (backing the file up first when it has data) and
	// Close checkpoints the WAL, so the read-only handle sees everything.
	db, err := Open(ctx, path, Options{})
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	r, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return r, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mattn/go-sqlite3"
)

// BackupResult describes a backup Backup wrote.
type BackupResult struct {
	Bytes         int64
	Conversations int
	Messages      int
}

// Backup writes a consistent copy of the database at path to dst (mode
// 0600) while a server may be writing to it. It refuses to replace an
// existing dst unless replace is set; either way dst is only ever a whole,
// checked copy (it is written beside dst and moved into place).
//
// It runs VACUUM INTO on a read-only connection of its own: one read
// transaction, which in WAL mode never blocks the server's writer (the
// server only cannot checkpoint past it meanwhile), and a compact copy
// without free pages or a WAL. The online backup API would copy the same
// snapshot page by page; done in steps, it starts over whenever another
// connection writes, which under a steady stream of webhooks may never
// end, and done in one step it is the same single read transaction.
func Backup(ctx context.Context, path, dst string, replace bool) (*BackupResult, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no SQLite database at %s", path)
	} else if err != nil {
		return nil, err
	}
	if !replace {
		if _, err := os.Lstat(dst); err == nil {
			return nil, fmt.Errorf("%s exists (--force replaces it)", dst)
		}
	}
	src, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := src.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := vacuumInto(ctx, src, tmp.Name()); err != nil {
		return nil, err
	}
	res, err := checkCopy(ctx, tmp.Name())
	if err != nil {
		return nil, err
	}
	if replace {
		err = os.Rename(tmp.Name(), dst)
	} else if err = os.Link(tmp.Name(), dst); errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%s exists (--force replaces it)", dst)
	}
	if err != nil {
		return nil, err
	}
	return res, syncDir(dst)
}

// vacuumInto writes a copy of db to dst, which must not exist or be empty;
// a missing one is created 0600 first (SQLite would make it 0644).
func vacuumInto(ctx context.Context, db *sql.DB, dst string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := errors.Join(f.Chmod(0o600), f.Close()); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("copying the database: %w", err)
	}
	return nil
}

// copyPages writes a copy of db's database to dst (created 0600), page for
// page, with SQLite's online backup API in one step: one read transaction,
// like VACUUM INTO, but what is copied is the pages as they are rather than
// every row inserted again and every index built again, which made the
// backup before a migration the bulk of an upgrade's start on a large
// install (VACUUM INTO took 70-80 s of 1 min 43 s at 10,000,000
// messages). It is for the store's own start, when no writer runs: the
// copy keeps the file's free pages, and so holds what the file itself
// holds, no more.
func copyPages(ctx context.Context, db *sql.DB, dst string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := errors.Join(f.Chmod(0o600), f.Close()); err != nil {
		return err
	}
	err = copyPagesTo(ctx, db, dst)
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("copying the database: %w", err)
	}
	return nil
}

func copyPagesTo(ctx context.Context, db *sql.DB, dst string) error {
	out, err := sql.Open("sqlite3", "file:"+dst)
	if err != nil {
		return err
	}
	defer out.Close()
	oc, err := out.Conn(ctx)
	if err != nil {
		return err
	}
	defer oc.Close()
	sc, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer sc.Close()
	return oc.Raw(func(o any) error {
		return sc.Raw(func(s any) error {
			bk, err := o.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			done, err := bk.Step(-1)
			if err == nil && !done {
				err = errors.New("the database was locked")
			}
			return errors.Join(err, bk.Finish())
		})
	})
}

// checkCopy verifies a copy whole and says what it holds.
func checkCopy(ctx context.Context, path string) (*BackupResult, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil {
		return nil, fmt.Errorf("checking the copy: %w", err)
	}
	if check != "ok" {
		return nil, fmt.Errorf("the copy fails its integrity check: %s", check)
	}
	res := &BackupResult{}
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)`).
		Scan(&res.Conversations, &res.Messages); err != nil {
		return nil, fmt.Errorf("reading the copy: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	res.Bytes = info.Size()
	return res, nil
}

func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/conversa/conversa/core/store/internal/dbutil"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrate applies pending migrations, each in its own transaction. It refuses
// a database changed by a newer binary, or one whose applied migrations no
// longer match the embedded files, and backs the database up before
// upgrading a schema that already holds data.
func migrate(ctx context.Context, db *sql.DB, path string, log *slog.Logger) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	all, err := dbutil.Migrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	applied := map[int]string{}
	rows, err := db.QueryContext(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return err
		}
		applied[v] = sum
	}
	rows.Close()
	pending, err := dbutil.Pending(all, applied)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	if len(applied) > 0 {
		backup := fmt.Sprintf("%s.pre-%d", path, pending[0].Version)
		if err := copyPages(ctx, db, backup); err != nil {
			return fmt.Errorf("backup before migration: %w", err)
		}
		log.Info("database backed up before migration", "backup", backup)
	}
	for _, m := range pending {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
			m.Version, m.Name, m.Checksum, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		log.Info("migration applied", "migration", m.Name)
	}
	return nil
}

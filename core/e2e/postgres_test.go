package e2e

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/store/postgres/pgtest"
)

// pgDatabase creates an empty PostgreSQL database for the test, dropped
// when it ends, and returns its URL; without CONVERSA_TEST_POSTGRES the test
// is skipped with how to enable it.
func pgDatabase(t testing.TB) string { t.Helper(); return pgtest.Database(t) }

// pgConn connects to a test database (for reading what the nodes wrote).
func pgConn(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Package pgtest gives tests a PostgreSQL database of their own, in the
// server named by CONVERSA_TEST_POSTGRES (.ci/postgres starts a throw-away
// one); without it the tests that need one are skipped, saying how to
// enable them.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Var names the environment variable with the URL of a PostgreSQL
// database the tests may create schemas in.
const Var = "CONVERSA_TEST_POSTGRES"

var schemas atomic.Int64

// URL returns the URL of a new, empty schema of the test database (its
// search_path), dropped when the test ends; the test is skipped without
// CONVERSA_TEST_POSTGRES.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Var)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s=postgres://user@127.0.0.1:5432/db?sslmode=disable (a database the tests may create schemas in; .ci/postgres starts a throw-away one)", Var)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s: %v", Var, err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("t%d_%d", os.Getpid(), schemas.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

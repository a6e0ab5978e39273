// Package pgtest gives tests a PostgreSQL schema or database of their own,
// in the server named by CONVERSA_TEST_POSTGRES (.ci/postgres starts a
// throw-away one); without it the tests that need one are skipped, saying
// how to enable them.
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
// database the tests may create schemas and databases from.
const Var = "CONVERSA_TEST_POSTGRES"

var made atomic.Int64

// URL returns the URL of a new, empty schema of the test database (its
// search_path), dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	u, name := create(t, "t", "CREATE SCHEMA %s", "DROP SCHEMA %s CASCADE")
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Database returns the URL of a new, empty database on the test server,
// dropped when the test ends (for what runs the binary: a database is what
// an operator gives it).
func Database(t testing.TB) string {
	t.Helper()
	u, name := create(t, "e2e", "CREATE DATABASE %s", "DROP DATABASE IF EXISTS %s WITH (FORCE)")
	u.Path = "/" + name
	return u.String()
}

// create makes a uniquely named object with the create statement, dropped
// with drop at the end of the test, and returns the server's URL and the
// name. The test is skipped without CONVERSA_TEST_POSTGRES.
func create(t testing.TB, prefix, createStmt, dropStmt string) (*url.URL, string) {
	t.Helper()
	base := os.Getenv(Var)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s=postgres://user@127.0.0.1:5432/db?sslmode=disable (a database the tests may create schemas and databases from; .ci/postgres starts a throw-away one)", Var)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", Var, err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s: %v", Var, err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("%s%d_%d", prefix, os.Getpid(), made.Add(1))
	if _, err := conn.Exec(ctx, fmt.Sprintf(createStmt, name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, fmt.Sprintf(dropStmt, name))
	})
	return u, name
}

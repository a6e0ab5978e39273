package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// postgresVar names the environment variable with the URL of a PostgreSQL
// server the tests may create databases in (.ci/postgres starts one).
const postgresVar = "CONVERSA_TEST_POSTGRES"

var databases atomic.Int64

// pgDatabase creates an empty PostgreSQL database for the test, dropped
// when it ends, and returns its URL; without CONVERSA_TEST_POSTGRES the test
// is skipped with how to enable it.
func pgDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(postgresVar)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s=postgres://user@127.0.0.1:5432/db?sslmode=disable (a server the tests may create databases in; .ci/postgres starts a throw-away one)", postgresVar)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s: %v", postgresVar, err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("e2e_%d_%d", os.Getpid(), databases.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

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

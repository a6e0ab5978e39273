package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Copying an SQLite install into PostgreSQL, for `conversa migrate`. Both
// schemas hold the same tables and columns with the same values (times are
// Unix milliseconds on both sides), so rows go across as they are, ids
// included; only the representation of a few types differs.

// ErrNotEmpty is returned by CopyFromSQLite when the target database already
// holds rows: copying into it would mix two installs, and the copied ids
// would collide with the ones already there.
var ErrNotEmpty = errors.New("the PostgreSQL database already holds data")

// TableCount is how many rows CopyFromSQLite copied into one table.
type TableCount struct {
	Table string
	Rows  int64
}

// CopyFromSQLite copies every table of the SQLite database src (opened
// read-only by the caller, at the schema this binary knows) into the
// PostgreSQL database at url, which it opens with Open, so the target is
// migrated first. It refuses a target whose tables hold any row
// (ErrNotEmpty), and a source with a table or column the PostgreSQL schema
// lacks, rather than leave its data behind. Everything is copied in one
// transaction, so a failure leaves the target as empty as it was; the
// identity sequences are then moved past the largest copied id.
//
// The counts come back in the order the tables were copied (foreign-key
// order).
func CopyFromSQLite(ctx context.Context, src *sql.DB, url string, o Options) ([]TableCount, error) {
	db, err := Open(ctx, url, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	// One read transaction: SQLite gives it a single snapshot of every
	// table (from its first read), so the copy is consistent even if
	// something still wrote to the file meanwhile.
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("reading the SQLite database: %w", err)
	}
	defer stx.Rollback()
	from, err := sqliteTables(ctx, stx)
	if err != nil {
		return nil, fmt.Errorf("reading the SQLite schema: %w", err)
	}

	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	to, err := pgTables(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("reading the PostgreSQL schema: %w", err)
	}
	plans, err := planCopy(from, to)
	if err != nil {
		return nil, err
	}
	if err := lockEmpty(ctx, tx, to); err != nil {
		return nil, err
	}
	counts := make([]TableCount, 0, len(plans))
	for _, p := range plans {
		n, err := p.copy(ctx, stx, tx)
		if err != nil {
			return nil, err
		}
		counts = append(counts, TableCount{Table: p.table, Rows: n})
	}
	for _, p := range plans {
		for _, s := range p.sequences {
			// Without this the next row PostgreSQL numbers itself would
			// take id 1, which a copied row already holds. (setval is not
			// undone by a rollback; on an empty table that is harmless.)
			if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, m) FROM (SELECT max(`+
				pgx.Identifier{s.column}.Sanitize()+`) AS m FROM `+pgx.Identifier{p.table}.Sanitize()+`) t
				WHERE m IS NOT NULL`, s.sequence); err != nil {
				return nil, fmt.Errorf("moving the sequence of %s.%s: %w", p.table, s.column, err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if _, err := indexMessages(ctx, db.pool); err != nil {
		return nil, fmt.Errorf("indexing the copied messages for search: %w", err)
	}
	if _, err := indexContacts(ctx, db.pool); err != nil {
		return nil, fmt.Errorf("indexing the copied contacts for search: %w", err)
	}
	return counts, nil
}

// srcTable is an SQLite table: its name and columns, in schema order.
type srcTable struct {
	name    string
	columns []string
}

// sqliteTables lists the tables to copy, in the order they were created:
// every table but SQLite's own, the migration bookkeeping (each side
// records its own migrations), the search indexes (virtual tables and their
// shadow tables, the word list, the shard list, the indexer's progress
// and its list of contacts stored late: PostgreSQL indexes the copied
// messages and contacts itself) and the label counts
// (kept by a trigger on each side as the labels are copied).
func sqliteTables(ctx context.Context, tx *sql.Tx) ([]srcTable, error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.name FROM sqlite_master m
		JOIN pragma_table_list l ON l.schema = 'main' AND l.name = m.name AND l.type = 'table'
		WHERE m.type = 'table' AND substr(m.name, 1, 7) <> 'sqlite_' AND m.name NOT IN ('schema_migrations', 'label_counts', 'search_words', 'search_progress',
			'contact_search_late', 'message_search_shards')
		ORDER BY m.rowid`)
	if err != nil {
		return nil, err
	}
	var tables []srcTable
	for rows.Next() {
		var t srcTable
		if err := rows.Scan(&t.name); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range tables {
		cols, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, tables[i].name)
		if err != nil {
			return nil, err
		}
		for cols.Next() {
			var c string
			if err := cols.Scan(&c); err != nil {
				cols.Close()
				return nil, err
			}
			tables[i].columns = append(tables[i].columns, c)
		}
		cols.Close()
		if err := cols.Err(); err != nil {
			return nil, err
		}
	}
	return tables, nil
}

// pgColumn is a column of the target schema.
type pgColumn struct {
	name     string
	dataType string // information_schema's data_type: bigint, text, boolean, …
	// optional: the column may be left out of a COPY (it has a default or
	// takes NULL).
	optional bool
	sequence string // the identity's (or serial's) sequence, "" for none
}

// pgTable is a table of the target schema.
type pgTable struct {
	name    string
	columns []pgColumn
	// refs are the tables its foreign keys point to.
	refs []string
}

func (t *pgTable) column(name string) *pgColumn {
	for i := range t.columns {
		if t.columns[i].name == name {
			return &t.columns[i]
		}
	}
	return nil
}

// pgTables reads the tables of the schema the store uses (the first of the
// search path: a test's schema, usually public) with their columns' types,
// their sequences and their foreign keys.
func pgTables(ctx context.Context, tx pgx.Tx) (map[string]*pgTable, error) {
	rows, err := tx.Query(ctx, `SELECT c.table_name, c.column_name, c.data_type,
			c.is_nullable = 'YES' OR c.column_default IS NOT NULL OR c.is_identity = 'YES',
			coalesce(pg_get_serial_sequence(format('%I.%I', c.table_schema, c.table_name), c.column_name), '')
		FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		return nil, err
	}
	tables := map[string]*pgTable{}
	for rows.Next() {
		var table string
		var c pgColumn
		if err := rows.Scan(&table, &c.name, &c.dataType, &c.optional, &c.sequence); err != nil {
			rows.Close()
			return nil, err
		}
		t := tables[table]
		if t == nil {
			t = &pgTable{name: table}
			tables[table] = t
		}
		t.columns = append(t.columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `SELECT src.relname, dst.relname FROM pg_constraint k
		JOIN pg_class src ON src.oid = k.conrelid
		JOIN pg_class dst ON dst.oid = k.confrelid
		JOIN pg_namespace n ON n.oid = src.relnamespace
		WHERE k.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			return nil, err
		}
		if t := tables[from]; t != nil && from != to {
			t.refs = append(t.refs, to)
		}
	}
	return tables, rows.Err()
}

// lockEmpty locks every table of the target against writes until the copy
// commits, then checks that none holds a row: two migrations run at once,
// or a node already serving the database, cannot slip rows in between the
// check and the copy. schema_migrations is the only table Open itself
// fills.
func lockEmpty(ctx context.Context, tx pgx.Tx, tables map[string]*pgTable) error {
	var names []string
	for name := range tables {
		if name != "schema_migrations" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = pgx.Identifier{n}.Sanitize()
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(quoted, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("locking the PostgreSQL tables: %w", err)
	}
	for i, n := range names {
		var rows bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM `+quoted[i]+`)`).Scan(&rows); err != nil {
			return fmt.Errorf("checking that %s is empty: %w", n, err)
		}
		if rows {
			return fmt.Errorf("%w (table %s has rows): migrate copies into an empty database only", ErrNotEmpty, n)
		}
	}
	return nil
}

// tablePlan is how one table is copied.
type tablePlan struct {
	table   string
	columns []string // SQLite's columns, each with a PostgreSQL counterpart
	convert []converter
	// key is the index of the id column (to name a row that cannot be
	// converted), -1 when the table has none.
	key       int
	sequences []sequenceColumn
}

type sequenceColumn struct{ column, sequence string }

// planCopy matches the SQLite tables to the PostgreSQL ones and orders them
// so that every table comes after the tables its foreign keys point to. A
// table or column only SQLite has is an error, not something to skip: it
// holds data the copy would lose. A column only PostgreSQL has is fine
// when COPY can leave it to its default.
func planCopy(from []srcTable, to map[string]*pgTable) ([]tablePlan, error) {
	var problems []string
	byName := map[string]tablePlan{}
	var order []string
	for _, s := range from {
		t := to[s.name]
		if t == nil {
			problems = append(problems, fmt.Sprintf("table %s is not in the PostgreSQL schema", s.name))
			continue
		}
		p := tablePlan{table: s.name, key: -1}
		for _, name := range s.columns {
			c := t.column(name)
			if c == nil {
				problems = append(problems, fmt.Sprintf("column %s.%s is not in the PostgreSQL schema", s.name, name))
				continue
			}
			conv, err := converterFor(c.dataType)
			if err != nil {
				problems = append(problems, fmt.Sprintf("column %s.%s: %v", s.name, name, err))
				continue
			}
			if name == "id" {
				p.key = len(p.columns)
			}
			p.columns = append(p.columns, name)
			p.convert = append(p.convert, conv)
			if c.sequence != "" {
				p.sequences = append(p.sequences, sequenceColumn{column: name, sequence: c.sequence})
			}
		}
		for _, c := range t.columns {
			if !c.optional && !slices.Contains(s.columns, c.name) {
				problems = append(problems, fmt.Sprintf("PostgreSQL column %s.%s (required, no default) is not in the SQLite schema", s.name, c.name))
			}
		}
		byName[s.name] = p
		order = append(order, s.name)
	}
	if len(problems) > 0 {
		// Both schemas come with this binary, so this is a migration added on
		// one side only, or a table made by hand.
		return nil, fmt.Errorf("the SQLite and PostgreSQL schemas differ, so nothing was copied: %s",
			strings.Join(problems, "; "))
	}
	// A stable topological sort: the first table, in SQLite's order, whose
	// referenced tables are all placed goes next. Only references between
	// copied tables count (a self-reference is satisfied within one COPY).
	placed := map[string]bool{}
	plans := make([]tablePlan, 0, len(order))
	for len(plans) < len(order) {
		next := ""
		for _, name := range order {
			if placed[name] {
				continue
			}
			ready := true
			for _, ref := range to[name].refs {
				if _, copied := byName[ref]; copied && !placed[ref] {
					ready = false
					break
				}
			}
			if ready {
				next = name
				break
			}
		}
		if next == "" {
			return nil, errors.New("the PostgreSQL tables' foreign keys form a cycle: no order to copy them in")
		}
		placed[next] = true
		plans = append(plans, byName[next])
	}
	return plans, nil
}

// copy streams the table's rows from SQLite into PostgreSQL with COPY,
// converting each value for its column on the way.
func (p tablePlan) copy(ctx context.Context, src *sql.Tx, dst pgx.Tx) (int64, error) {
	cols := make([]string, len(p.columns))
	for i, c := range p.columns {
		cols[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM "`+strings.ReplaceAll(p.table, `"`, `""`)+`"`)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", p.table, err)
	}
	defer rows.Close()
	raw := make([]any, len(p.columns))
	dest := make([]any, len(p.columns))
	for i := range raw {
		dest[i] = &raw[i]
	}
	row := 0
	next := func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		row++
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out := make([]any, len(raw))
		for i, v := range raw {
			c, err := p.convert[i](v)
			if err != nil {
				which := "row " + strconv.Itoa(row)
				if p.key >= 0 {
					which = fmt.Sprintf("id %v", raw[p.key])
				}
				return nil, fmt.Errorf("%s.%s, %s: %w", p.table, p.columns[i], which, err)
			}
			out[i] = c
		}
		return out, nil
	}
	n, err := dst.CopyFrom(ctx, pgx.Identifier{p.table}, p.columns, pgx.CopyFromFunc(next))
	if err != nil {
		return 0, fmt.Errorf("copying %s: %w", p.table, err)
	}
	return n, nil
}

// converter turns a value as the SQLite driver reads it (int64, float64,
// string, []byte, bool or nil) into what a PostgreSQL column takes. NULL
// stays NULL: the NOT NULL constraints, the same on both sides, decide.
type converter func(v any) (any, error)

// converterFor is the converter for a PostgreSQL column type, by its
// information_schema name. The schema uses few types; any other is an
// error until someone decides how it is filled, rather than a guess.
func converterFor(dataType string) (converter, error) {
	switch dataType {
	case "bigint":
		return toInteger(math.MinInt64, math.MaxInt64), nil
	case "integer":
		return toInteger(math.MinInt32, math.MaxInt32), nil
	case "smallint":
		return toInteger(math.MinInt16, math.MaxInt16), nil
	case "boolean":
		return toBool, nil
	case "text", "character varying":
		return toText, nil
	case "bytea":
		return toBytes, nil
	}
	return nil, fmt.Errorf("PostgreSQL type %s has no conversion from SQLite", dataType)
}

// toInteger accepts SQLite integers only. INTEGER affinity already stores
// any integral number or numeric text as an integer, so a string or a real
// left in such a column is not a number, and is reported rather than
// truncated.
func toInteger(lo, hi int64) converter {
	return func(v any) (any, error) {
		switch x := v.(type) {
		case nil:
			return nil, nil
		case int64:
			if x < lo || x > hi {
				return nil, fmt.Errorf("%d is out of range", x)
			}
			return x, nil
		}
		return nil, fmt.Errorf("%s is not an integer", describe(v))
	}
}

// toBool maps SQLite's 0/1 booleans to PostgreSQL's; any other value is
// not a boolean the store wrote.
func toBool(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return x, nil
	case int64:
		switch x {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
	}
	return nil, fmt.Errorf("%s is not a boolean (0 or 1)", describe(v))
}

// toText accepts text, and a blob that is valid UTF-8 (SQLite keeps what
// it was given in a TEXT column). PostgreSQL text cannot hold NUL, which
// SQLite's can (the engine's partition keys are "integration\x00contact"):
// a NUL becomes U+FFFD, exactly as the store writes every string argument
// (cleanText, in store.go), so a copied key is the key the store looks up.
func toText(v any) (any, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		s = x
	case []byte:
		if !utf8.Valid(x) {
			return nil, fmt.Errorf("a blob of %d bytes that is not UTF-8 text", len(x))
		}
		s = string(x)
	default:
		return nil, fmt.Errorf("%s is not text", describe(v))
	}
	return cleanText(s), nil
}

// toBytes accepts a blob, or text (a BLOB column has no affinity: what was
// written as a string stays one, and its bytes are the value).
func toBytes(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	return nil, fmt.Errorf("%s is not a blob", describe(v))
}

// describe names a value in an error without dumping it (it may be a
// message's text or a password hash).
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("text of %d bytes", len(x))
	case []byte:
		return fmt.Sprintf("a blob of %d bytes", len(x))
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the real %g", x)
	}
	return fmt.Sprintf("a %T", v)
}

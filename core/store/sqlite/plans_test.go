package sqlite

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// growingTables are the tables whose rows pile up with history: a query
// may read one only through an index, to the rows it needs.
var growingTables = map[string]bool{
	"messages": true, "conversations": true, "contacts": true, "inbox": true, "outbox": true, "provider_ids": true,
	"conversation_labels": true, "reactions": true, "audit_log": true, "deliveries": true,
}

// TestQueryPlans asks SQLite how it runs each query of the inventory
// (plans.go), on a seeded store without statistics (as a server's database
// is) and after ANALYZE, and fails on a full scan of a growing table, a
// scan of a whole index that neither serves the order with a limit nor is
// partial (holding only open rows), an automatic index, or a sort the
// query was not expected to need. go test -v prints the plans.
func TestQueryPlans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.db")
	seedGrowth(t, path, 50_000)
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	partial := map[string]bool{}
	names, err := collectStrings(db.r.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'`))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		partial[n] = true
	}
	check := func(t *testing.T) {
		for _, q := range plannedQueries() {
			plan, err := explain(db, q.SQL, q.Args...)
			if err != nil {
				t.Errorf("%s: %v", q.Name, err)
				continue
			}
			t.Logf("%s:\n\t%s", q.Name, strings.Join(plan, "\n\t"))
			for _, p := range planProblems(q, plan, partial) {
				t.Errorf("%s: %s\n\tquery: %s\n\tplan:\n\t%s", q.Name, p, q.SQL, strings.Join(plan, "\n\t"))
			}
		}
	}
	t.Run("without statistics", check)
	if err := db.execWrite(`ANALYZE`); err != nil {
		t.Fatal(err)
	}
	t.Run("after ANALYZE", check)
}

// explain is the query's plan, one line per step, indented by depth.
func explain(db *DB, q string, args ...any) ([]string, error) {
	rows, err := db.r.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	depth := map[int]int{}
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		depth[id] = depth[parent] + 1
		out = append(out, strings.Repeat("  ", depth[id]-1)+detail)
	}
	return out, rows.Err()
}

var (
	tableRef   = regexp.MustCompile(`(?i)\b(?:FROM|JOIN)\s+([a-z_]+)(?:\s+(?:AS\s+)?([a-z_]+))?`)
	scanStep   = regexp.MustCompile(`^SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?`)
	notAliases = map[string]bool{"where": true, "join": true, "on": true, "order": true, "group": true, "limit": true,
		"cross": true, "left": true, "inner": true, "using": true}
)

// planProblems lists what is wrong with plan for q.
func planProblems(q plannedQuery, plan []string, partial map[string]bool) []string {
	tables := map[string]string{} // alias or name -> table
	for _, m := range tableRef.FindAllStringSubmatch(q.SQL, -1) {
		tables[m[1]] = m[1]
		if m[2] != "" && !notAliases[strings.ToLower(m[2])] {
			tables[m[2]] = m[1]
		}
	}
	limited := strings.Contains(q.SQL, "LIMIT")
	sorted := false
	for _, step := range plan {
		s := strings.TrimSpace(step)
		if strings.Contains(s, "TEMP B-TREE FOR") && (strings.Contains(s, "ORDER BY") || strings.Contains(s, "GROUP BY")) {
			sorted = true
		}
	}
	var out []string
	for _, idx := range q.Uses {
		used := false
		for _, step := range plan {
			if strings.Contains(step, "INDEX "+idx+" ") || strings.HasSuffix(step, "INDEX "+idx) {
				used = true
			}
		}
		if !used {
			out = append(out, "does not use "+idx)
		}
	}
	if sorted && !q.Sorts {
		out = append(out, "sorts in a temporary B-tree where an index should give the order")
	}
	for _, step := range plan {
		s := strings.TrimSpace(step)
		if strings.Contains(s, "AUTOMATIC") {
			out = append(out, "builds an automatic index: "+s)
			continue
		}
		m := scanStep.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		table := tables[m[1]]
		if !growingTables[table] {
			continue
		}
		if why, ok := q.Scans[table]; ok && why != "" {
			continue
		}
		switch {
		case m[2] == "":
			out = append(out, "reads the whole of "+table+": "+s)
		case partial[m[2]]:
			// A partial index holds only the open rows.
		case limited && !sorted:
			// The index gives the order and the limit stops the scan.
		default:
			out = append(out, "reads the whole index "+m[2]+" of "+table+": "+s)
		}
	}
	return out
}

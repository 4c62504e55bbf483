package warehousetest

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/labtrail/labtrail/schemas"
)

// UnionOfShards opens an in-memory DuckDB with the shards' DuckDB files
// (paths) attached read-only as s0, s1, … and, under each table's own
// name, a view of their union as the README tells readers to take it: fact tables as they are
// (a row in two shards is doubled), dimensions the newest row of each id
// (shards that both see a user each store it, and a parent that moved to
// another shard keeps its old row in the old layout), bridges from the
// shard whose parent row that is.
func UnionOfShards(t testing.TB, paths []string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for i, path := range paths {
		if _, err := db.Exec(fmt.Sprintf("ATTACH '%s' AS s%d (READ_ONLY)", path, i)); err != nil {
			t.Fatal(err)
		}
	}
	union := func(table, cols string) string {
		var parts []string
		for i := range paths {
			parts = append(parts, fmt.Sprintf("SELECT %s, %d AS _shard FROM s%d.%s", cols, i, i, table))
		}
		return strings.Join(parts, " UNION ALL BY NAME ")
	}
	for _, tb := range schemas.All() {
		q := "SELECT * EXCLUDE (_shard) FROM (" + union(tb.Name, "*") + ")"
		switch tb.Kind {
		case schemas.Dimension:
			q = fmt.Sprintf("SELECT * EXCLUDE (_shard) FROM (%s) QUALIFY row_number() OVER (PARTITION BY id ORDER BY %s DESC, _shard DESC) = 1",
				union(tb.Name, "*"), schemas.ColExtractedAt)
		case schemas.Bridge:
			br := tb.Bridge
			winner := fmt.Sprintf("SELECT id, _shard FROM (%s) QUALIFY row_number() OVER (PARTITION BY id ORDER BY %s DESC, _shard DESC) = 1",
				union(br.Parent, "id, "+schemas.ColExtractedAt), schemas.ColExtractedAt)
			q = fmt.Sprintf("SELECT b.* EXCLUDE (_shard) FROM (%s) b JOIN (%s) w ON b.%s = w.id AND b._shard = w._shard",
				union(tb.Name, "*"), winner, br.ParentColumn)
		}
		if _, err := db.Exec(fmt.Sprintf("CREATE VIEW %s AS %s", tb.Name, q)); err != nil {
			t.Fatalf("%s: %v", tb.Name, err)
		}
	}
	return db
}

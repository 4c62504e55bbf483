package warehousetest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/labtrail/labtrail/schemas"
)

// CheckIceberg compares every table of namespace ns in cat, read with
// iceberg-go's scanner, with DuckDB: the same keys, each once, in the
// current snapshot; and no snapshot a reader could travel to holds a key
// twice or a key DuckDB does not have.
func CheckIceberg(t testing.TB, db *sql.DB, cat catalog.Catalog, ns string) {
	t.Helper()
	ctx := context.Background()
	for _, st := range schemas.All() {
		key := st.Key()
		want := RowsOf(t, db, "SELECT concat_ws('|', "+strings.Join(key, ", ")+") FROM "+st.Name+" ORDER BY 1")
		tbl, err := cat.LoadTable(ctx, table.Identifier{ns, st.Name})
		if err != nil {
			t.Fatalf("iceberg %s: %v", st.Name, err)
		}
		var got []string
		if s := tbl.CurrentSnapshot(); s != nil {
			got = scanKeys(t, tbl, s.SnapshotID, key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("iceberg %s: %d rows, DuckDB %d (each key once in both)", st.Name, len(got), len(want))
		}
		for _, s := range tbl.Metadata().Snapshots() {
			keys := scanKeys(t, tbl, s.SnapshotID, key)
			if len(slices.Compact(slices.Clone(keys))) != len(keys) {
				t.Errorf("iceberg %s: snapshot %d (%s) holds a key twice", st.Name, s.SnapshotID, s.Summary.Operation)
			}
			if st.Kind != schemas.Fact {
				continue
			}
			for _, k := range keys {
				if _, ok := slices.BinarySearch(want, k); !ok {
					t.Errorf("iceberg %s: snapshot %d holds %s, which DuckDB does not", st.Name, s.SnapshotID, k)
					break
				}
			}
		}
	}
}

// scanKeys returns the key columns of every row of tbl at snapshot id,
// joined by '|', sorted.
func scanKeys(t testing.TB, tbl *table.Table, id int64, key []string) []string {
	t.Helper()
	_, it, err := tbl.Scan(table.WithSnapshotID(id), table.WithSelectedFields(key...)).ToArrowRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rec, err := range it {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recordKeys(rec, key)...)
		rec.Release()
	}
	slices.Sort(out)
	return out
}

func recordKeys(rec arrow.RecordBatch, key []string) []string {
	out := make([]string, rec.NumRows())
	for r := range out {
		parts := make([]string, len(key))
		for i, k := range key {
			col := rec.Column(rec.Schema().FieldIndices(k)[0])
			parts[i] = col.ValueStr(r)
		}
		out[r] = fmt.Sprint(strings.Join(parts, "|"))
	}
	return out
}

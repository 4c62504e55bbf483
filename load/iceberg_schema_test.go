package load

import (
	"errors"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/labtrail/labtrail/schemas"
)

// withoutColumns is t as a release before the columns drop were added
// had it.
func withoutColumns(t schemas.Table, drop ...string) schemas.Table {
	var fields []arrow.Field
	for _, f := range t.Schema.Fields() {
		if !slices.Contains(drop, f.Name) {
			fields = append(fields, f)
		}
	}
	md := t.Schema.Metadata()
	t.Schema = arrow.NewSchema(fields, &md)
	return t
}

// openLake opens ice's catalog as an icebergLake of its own, creating
// nothing: another writer. It is closed when the test ends.
func (e *env) openLake(ice *IcebergOptions) *icebergLake {
	e.t.Helper()
	props, err := catalogProps(*ice)
	if err != nil {
		e.t.Fatal(err)
	}
	cat, closeCat, err := OpenIcebergCatalog(e.ctx, *ice)
	if err != nil {
		e.t.Fatal(err)
	}
	l := &icebergLake{
		cat: cat, closeCat: closeCat, ns: table.Identifier{ice.Namespace}, location: props["warehouse"],
		log: e.opts("other").Logger, at: func(string) error { return nil },
	}
	t := e.t
	t.Cleanup(func() {
		if err := l.close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// oldRelease creates, as a labtrail release whose t lacked some columns
// would, the namespace and old's table (the Iceberg copy of old, a t
// without those columns) and appends rows to it with old's columns. It
// returns that release's lake.
func (e *env) oldRelease(ice *IcebergOptions, old schemas.Table, rows ...row) *icebergLake {
	e.t.Helper()
	l := e.openLake(ice)
	if err := l.cat.CreateNamespace(e.ctx, l.ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		e.t.Fatal(err)
	}
	if err := l.createTable(e.ctx, old); err != nil {
		e.t.Fatal(err)
	}
	if len(rows) == 0 {
		return l
	}
	tbl, err := l.load(e.ctx, old)
	if err != nil {
		e.t.Fatal(err)
	}
	rec := buildRecord(e.t, e.alloc, old, rows...)
	defer rec.Release()
	rdr, err := array.NewRecordReader(old.Schema, []arrow.RecordBatch{rec})
	if err != nil {
		e.t.Fatal(err)
	}
	defer rdr.Release()
	tx := tbl.NewTransaction()
	if err := tx.Append(e.ctx, rdr, nil); err != nil {
		e.t.Fatal(err)
	}
	if _, err := tx.Commit(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return l
}

// raceAt is a hook that counts in reached how often the write reaches
// point, and the first time runs other: another writer committing between
// this write's load of the table and its commit.
func raceAt(point string, reached *int, other func() error) func(string) error {
	return func(p string) error {
		if p != point {
			return nil
		}
		*reached++
		if *reached == 1 {
			return other()
		}
		return nil
	}
}

// columnsNamed counts the top-level columns of tbl's current schema
// named name.
func columnsNamed(tbl *table.Table, name string) int {
	n := 0
	for _, f := range tbl.Schema().Fields() {
		if f.Name == name {
			n++
		}
	}
	return n
}

// A column added to a table of schemas/ (a new release) is added to the
// existing Iceberg table by Open, before any write, in a local and in an
// s3:// warehouse: the table's schema has it once, the rows of data files
// written before read it as null, and new rows carry it. One of the
// columns sits before others in the Arrow schema, so writes do not depend
// on the table's column order; a list column (issues.labels) gets its
// element field too.
func TestIcebergTablesGainNewColumns(t *testing.T) {
	forEachTree(t, testIcebergTablesGainNewColumns)
}

func testIcebergTablesGainNewColumns(t *testing.T, e *env) {
	defer e.alloc.AssertSize(t, 0)
	ice := e.iceOpts()
	added := []string{"note_body", "imported_from", "push_ref_count"}
	old := withoutColumns(schemas.Events, added...)
	oldRows := events(t, "2024-03-05T10:00:00Z", 1, 2)
	e.oldRelease(ice, old, oldRows...)
	e.oldRelease(ice, withoutColumns(schemas.Issues, "labels"))

	w := e.openIce("run1", ice)
	defer e.close(w)
	tbl, err := w.ice.load(e.ctx, schemas.Events)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range added {
		if n := columnsNamed(tbl, c); n != 1 {
			t.Errorf("the table has %d columns %s after Open, want 1", n, c)
		}
	}
	newRows := events(t, "2024-03-06T10:00:00Z", 3, 4)
	for i := range newRows {
		newRows[i]["note_body"], newRows[i]["imported_from"], newRows[i]["push_ref_count"] = "hi", "github", 2+i
	}
	e.mustAppend(w, schemas.Events, newRows, iceMark(t, "2024-03-06T10:00:00Z"))

	var want []string
	for _, rows := range [][]row{oldRows, newRows} {
		rec := buildRecord(t, e.alloc, schemas.Events, rows...)
		want = append(want, renderRows(t, schemas.Events, []arrow.RecordBatch{rec})...)
		rec.Release()
	}
	slices.Sort(want)
	if got := e.iceRows(w, schemas.Events, 0); !slices.Equal(got, want) {
		t.Errorf("Iceberg events:\n got %q\nwant %q", got, want)
	}

	issues, err := w.ice.load(e.ctx, schemas.Issues)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := issues.Schema().FindFieldByName("labels"); !ok {
		t.Error("issues has no labels column after Open")
	} else if lt, ok := f.Type.(*iceberg.ListType); !ok || !lt.Element.Equals(iceberg.PrimitiveTypes.String) {
		t.Errorf("issues.labels is %s, want list<string>", f.Type)
	}
	e.upsert(w, schemas.Issues, row{"id": 5, "iid": 1, "title": "t", "labels": []string{"bug", "p1"}})
	if err := w.PublishDimensions(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := e.iceRows(w, schemas.Issues, 0), e.duckRows(w, schemas.Issues); !slices.Equal(got, want) {
		t.Errorf("Iceberg issues:\n got %q\nwant %q", got, want)
	}
}

// Two writers adding the same columns at once: the one whose commit loses
// the race reloads the table, finds the columns there, and succeeds
// without adding them again.
func TestIcebergColumnsAddedByAConcurrentWriter(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	ice := e.iceOpts()
	old := withoutColumns(schemas.Events, "push_ref_count")
	l, other := e.oldRelease(ice, old), e.openLake(ice)
	raced := 0
	l.at = raceAt("evolve iceberg schema", &raced, func() error {
		return other.addMissingColumns(e.ctx, schemas.Events)
	})
	if err := l.addMissingColumns(e.ctx, schemas.Events); err != nil {
		t.Fatalf("the writer that lost the race: %v", err)
	}
	if raced != 1 {
		t.Errorf("reached the schema commit %d times, want once (the retry finds nothing to add)", raced)
	}
	tbl, err := l.load(e.ctx, schemas.Events)
	if err != nil {
		t.Fatal(err)
	}
	if n := columnsNamed(tbl, "push_ref_count"); n != 1 {
		t.Errorf("the table has %d columns push_ref_count, want 1", n)
	}
	if n := len(tbl.Metadata().Schemas()); n != 2 {
		t.Errorf("the table has %d schemas, want 2 (the old one and one with the column)", n)
	}
}

// A batch the Iceberg table refuses before reading a row (a column was
// dropped from the table behind labtrail's back) fails whole: DuckDB
// stores nothing, and the batch's Arrow memory is released.
func TestIcebergRefusedBatchFailsWhole(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	ice := e.iceOpts()
	w := e.openIce("run1", ice)
	defer e.close(w)
	_, err := e.openLake(ice).retryConflicts(e.ctx, schemas.Events, func(_ *table.Table, tx *table.Transaction) error {
		return tx.UpdateSchema(true, false).DeleteColumn([]string{"note_body"}).Commit()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.append(w, schemas.Events, events(t, "2024-03-05T10:00:00Z", 1), iceMark(t, "2024-03-05T10:00:00Z")); err == nil {
		t.Fatal("a batch with a column the table lacks was accepted")
	}
	if n := queryInt(t, w.DB(), "SELECT count(*) FROM events"); n != 0 {
		t.Errorf("DuckDB stored %d rows of the refused batch", n)
	}
}

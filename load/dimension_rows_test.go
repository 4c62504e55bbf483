package load

import (
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/schemas"
)

// UpsertDimension skips a row equal to the one it last wrote with the same
// id, and writes any that differs, if only by a null. The skip shows as a
// row deleted behind the Warehouse's back staying deleted.
func TestUpsertDimensionSkipsRowsItWrote(t *testing.T) {
	e := newEnv(t)
	defer e.alloc.AssertSize(t, 0)
	w := e.open("run1")
	defer e.close(w)
	names := func() []string {
		t.Helper()
		return query(t, w.DB(), "SELECT id || ':' || coalesce(name, 'NULL') FROM users ORDER BY id")
	}
	e.upsert(w, schemas.Users, row{"id": 1, "username": "ann", "name": ""}, row{"id": 2, "username": "bo", "name": "Bo"})
	if _, err := w.DB().ExecContext(e.ctx, "DELETE FROM users WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	e.upsert(w, schemas.Users, row{"id": 1, "username": "ann", "name": ""}, row{"id": 2, "username": "bo", "name": "Bo"})
	if got := names(); !slices.Equal(got, []string{"2:Bo"}) {
		t.Fatalf("an unchanged row was written again: %q", got)
	}
	e.upsert(w, schemas.Users, row{"id": 1, "username": "ann", "name": nil}, row{"id": 2, "username": "bo", "name": "Bob"})
	if got := names(); !slices.Equal(got, []string{"1:NULL", "2:Bob"}) {
		t.Fatalf("changed rows: %q", got)
	}
	// A new Warehouse remembers nothing: it writes every row once.
	e.close(w)
	w = e.open("run2")
	if _, err := w.DB().ExecContext(e.ctx, "DELETE FROM users"); err != nil {
		t.Fatal(err)
	}
	e.upsert(w, schemas.Users, row{"id": 2, "username": "bo", "name": "Bob"})
	if got := names(); !slices.Equal(got, []string{"2:Bob"}) {
		t.Fatalf("after reopening: %q", got)
	}
}

// Rows that print alike but differ hash differently: a null and an empty
// string, a null list and an empty one, a list's elements split
// differently.
func TestDimensionRowHash(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	u := newUpserted()
	rec := buildRecord(t, mem, schemas.Issues,
		row{"id": 1, "title": ""}, row{"id": 1, "title": nil},
		row{"id": 1, "labels": []string{"ab"}}, row{"id": 1, "labels": []string{"a", "b"}},
		row{"id": 1, "labels": []string{}}, row{"id": 1, "labels": []string{""}},
		row{"id": 1, "title": ""})
	defer rec.Release()
	sums := map[uint64]int{}
	for i := range int(rec.NumRows()) - 1 {
		sum := u.hashRow(rec, i)
		if j, ok := sums[sum]; ok {
			t.Errorf("rows %d and %d hash alike", j, i)
		}
		sums[sum] = i
	}
	if u.hashRow(rec, 0) != u.hashRow(rec, 6) {
		t.Error("equal rows hash differently")
	}
	ids := rec.Column(0).(*array.Int64)
	changed, hashes := u.changed(schemas.Issues, rec, ids, []int{0})
	u.remember(schemas.Issues, ids, changed, hashes)
	if again, _ := u.changed(schemas.Issues, rec, ids, []int{6, 1}); !slices.Equal(again, []int{1}) {
		t.Errorf("changed = %v, want [1]", again)
	}
}

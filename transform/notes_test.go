package transform

import (
	"testing"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// An internal note's body reaches the record only when the run keeps
// internal notes; the zero Meta redacts. GitLab before 15.0 said
// confidential instead of internal, and that counts too. The row itself,
// with note_internal, is kept either way.
func TestInternalNotes(t *testing.T) {
	notes := []*extract.Note{
		{ID: 1, Body: ptr("internal"), Internal: ptr(true), Confidential: ptr(true)},
		{ID: 2, Body: ptr("confidential, older GitLab"), Confidential: ptr(true)},
		{ID: 3, Body: ptr("public"), Internal: ptr(false), Confidential: ptr(false)},
		{ID: 4, Body: ptr("unmarked")},
	}
	for _, tc := range []struct {
		keep  bool
		want  []any
		flags []any
	}{
		{false, []any{nil, nil, "public", "unmarked"}, []any{true, true, false, nil}},
		{true, []any{"internal", "confidential, older GitLab", "public", "unmarked"}, []any{true, true, false, nil}},
	} {
		mem := newMem(t)
		m := testMeta
		m.KeepInternalNotes = tc.keep
		b := NewBuilder(mem, schemas.Events, m)
		for _, n := range notes {
			AppendEvent(b, nil, &extract.Event{ID: n.ID, CreatedAt: mustTime(t, "2024-03-05T12:00:00Z"), Note: n})
		}
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		rec := b.NewRecord()
		checkRecord(t, schemas.Events, rec, len(notes))
		for i := range notes {
			if got := value(t, rec, "note_body", i); got != tc.want[i] {
				t.Errorf("keep=%v: note %d body = %v, want %v", tc.keep, notes[i].ID, got, tc.want[i])
			}
			if got := value(t, rec, "note_internal", i); got != tc.flags[i] {
				t.Errorf("keep=%v: note %d note_internal = %v, want %v", tc.keep, notes[i].ID, got, tc.flags[i])
			}
			if got := value(t, rec, "note_id", i); got != notes[i].ID {
				t.Errorf("keep=%v: row %d note_id = %v", tc.keep, i, got)
			}
		}
		rec.Release()
		b.Release()
		mem.AssertSize(t, 0)
	}
}

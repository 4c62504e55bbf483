package transform

import (
	"fmt"
	"testing"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// benchEvents returns n events like a project's history: a third pushes, a
// third comments, a third issue/merge request actions, by 50 authors.
func benchEvents(n int) []extract.Event {
	authors := make([]extract.User, 50)
	for i := range authors {
		authors[i] = extract.User{ID: int64(i + 1), Username: fmt.Sprintf("user%d", i+1), Name: fmt.Sprintf("User %d", i+1),
			State: "active", AvatarURL: new(string), WebURL: new(string)}
	}
	base := time.Date(2024, 3, 5, 12, 0, 0, 0, time.FixedZone("", 2*3600))
	evs := make([]extract.Event, n)
	for i := range evs {
		a := &authors[i%len(authors)]
		e := &evs[i]
		*e = extract.Event{ID: int64(i + 1), ProjectID: ptr[int64](7), AuthorID: &a.ID, AuthorUsername: &a.Username,
			Author: a, CreatedAt: base.Add(time.Duration(i) * time.Second)}
		switch i % 3 {
		case 0:
			e.ActionName = "pushed to"
			e.PushData = &extract.PushData{CommitCount: ptr[int64](1), Action: ptr("pushed"), RefType: ptr("branch"),
				CommitFrom: ptr("50d4420237a9de7be1304607147aec22e4a14af7"), CommitTo: ptr("c5feabde2d8cd023215af4d2ceeb7a64839fc428"),
				Ref: ptr("main"), CommitTitle: ptr("Add simple search to projects in public area")}
		case 1:
			e.ActionName = "commented on"
			e.TargetID, e.TargetIID, e.TargetType = ptr(int64(i)), ptr(int64(i)), ptr("Note")
			e.Note = &extract.Note{ID: int64(i), Body: ptr("What an awesome day! This looks good to me."), System: ptr(false),
				NoteableType: ptr("Issue"), NoteableID: ptr[int64](377), NoteableIID: ptr[int64](12)}
		default:
			e.ActionName = "opened"
			e.TargetID, e.TargetIID, e.TargetType = ptr(int64(i)), ptr(int64(i%500)), ptr("MergeRequest")
			e.TargetTitle = ptr("Nostrum enim non et sed optio illo deleniti non.")
		}
	}
	return evs
}

// BenchmarkAppendEvents builds records of 8192 events (refs collected).
func BenchmarkAppendEvents(b *testing.B) {
	const rows = 8192
	evs := benchEvents(rows)
	mem := newMem(b)
	defer mem.AssertSize(b, 0)
	bld := NewBuilder(mem, schemas.Events, testMeta)
	defer bld.Release()
	refs := NewReferenced()
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			AppendEvent(bld, refs, &evs[i])
		}
		rec := bld.NewRecord()
		if rec.NumRows() != rows {
			b.Fatalf("%d rows", rec.NumRows())
		}
		rec.Release()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if err := bld.Err(); err != nil {
		b.Fatal(err)
	}
}

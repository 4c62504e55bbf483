package load

import (
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

func TestAvailability(t *testing.T) {
	e := newEnv(t)
	w := e.open("run1")
	defer e.close(w)
	k := WatermarkKey{"p", "project:1", "issues/weight_events"}
	if _, ok, err := w.Availability(e.ctx, k); ok || err != nil {
		t.Fatalf("nothing recorded yet: %v %v", ok, err)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	if err := w.SetAvailability(e.ctx, Availability{WatermarkKey: k, CheckedAt: at, Reason: "403 Forbidden"}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := w.Availability(e.ctx, k)
	want := Availability{WatermarkKey: k, CheckedAt: at.UTC(), Reason: "403 Forbidden"}
	if err != nil || !ok || got != want {
		t.Fatalf("Availability = %+v %v %v, want %+v", got, ok, err, want)
	}
	// Answering again replaces the row.
	if err := w.SetAvailability(e.ctx, Availability{WatermarkKey: k, Available: true, CheckedAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := w.Availability(e.ctx, k); !got.Available || !got.CheckedAt.Equal(at.Add(time.Hour)) || got.Reason != "" {
		t.Errorf("after answering again: %+v", got)
	}
	if err := w.SetAvailability(e.ctx, Availability{WatermarkKey: k}); err == nil {
		t.Error("an availability without a time was accepted")
	}
	// Availability is not a watermark.
	if all, err := w.Watermarks(e.ctx); err != nil || len(all) != 0 {
		t.Errorf("watermarks: %v %v", all, err)
	}
}

// A warehouse written by an older labtrail kept availability as watermark
// rows whose stream ends in "#unavailable" (1970: cleared). Open moves them
// to _labtrail_availability, once, and status reads the old form too.
func TestAvailabilityMigratesLegacyMarkers(t *testing.T) {
	e := newEnv(t)
	w := e.open("old")
	if _, err := w.DB().Exec(`INSERT INTO _labtrail_watermarks VALUES
		('p', 'project:1', 'issues/weight_events#unavailable', TIMESTAMPTZ '2024-03-01 10:00:00+00', TIMESTAMPTZ '2024-03-01 10:00:01+00', 'old'),
		('p', 'project:1', 'issues/iteration_events#unavailable', TIMESTAMPTZ '1970-01-01 00:00:00+00', TIMESTAMPTZ '2024-04-01 00:00:00+00', 'old'),
		('p', 'project:1', 'issues/label_events', TIMESTAMPTZ '2024-03-02 00:00:00+00', TIMESTAMPTZ '2024-03-02 00:00:00+00', 'old')`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB().Exec(`DROP TABLE _labtrail_availability`); err != nil {
		t.Fatal(err)
	}
	e.close(w)

	db := openRO(t, e)
	st, err := ReadStatus(e.ctx, db, 10)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantAvail := []Availability{
		{WatermarkKey: WatermarkKey{"p", "project:1", "issues/iteration_events"}, Available: true, CheckedAt: mustTime(t, "2024-04-01T00:00:00Z")},
		{WatermarkKey: WatermarkKey{"p", "project:1", "issues/weight_events"}, CheckedAt: mustTime(t, "2024-03-01T10:00:00Z")},
	}
	if !slices.Equal(st.Availability, wantAvail) {
		t.Errorf("status of the unmigrated warehouse:\n got %+v\nwant %+v", st.Availability, wantAvail)
	}
	if len(st.Watermarks) != 1 || st.Watermarks[0].Stream != "issues/label_events" {
		t.Errorf("status watermarks: %+v", st.Watermarks)
	}

	for range 2 { // the migration runs once; opening again changes nothing
		w = e.open("new")
		for _, want := range wantAvail {
			got, ok, err := w.Availability(e.ctx, want.WatermarkKey)
			if want.Reason == "" && !want.Available {
				want.Reason = "not licensed or not allowed (recorded by an older labtrail)"
			}
			if err != nil || !ok || got != want {
				t.Errorf("migrated %s: %+v %v %v, want %+v", want.Stream, got, ok, err, want)
			}
		}
		if r := query(t, w.DB(), "SELECT stream FROM _labtrail_watermarks"); !slices.Equal(r, []string{"issues/label_events"}) {
			t.Errorf("watermarks after the migration: %v", r)
		}
		e.close(w)
	}
}

func TestReadStatus(t *testing.T) {
	e := newEnv(t)
	w := e.open("run1")
	e.mustAppend(w, schemas.Events, events(t, "2024-02-03T04:05:06Z", 1, 2, 3),
		Watermark{WatermarkKey{"p", "project:1", "events"}, mustTime(t, "2024-02-03T04:05:06Z")})
	if err := w.RecordRun(e.ctx, RunRecord{RunID: "run1", Start: mustTime(t, "2024-02-03T05:00:00Z"),
		End: mustTime(t, "2024-02-03T05:01:00Z"), Outcome: "success", Rows: map[string]int64{"events": 3}, Requests: 7, FutureRows: 1}); err != nil {
		t.Fatal(err)
	}
	e.close(w)
	db := openRO(t, e)
	defer db.Close()
	st, err := ReadStatus(e.ctx, db, 10)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tables[0].Name != "events" || st.Tables[0].Rows != 3 || !st.Tables[0].NewestCreatedAt.Equal(mustTime(t, "2024-02-03T04:05:06Z")) {
		t.Errorf("tables: %+v", st.Tables[0])
	}
	if len(st.Watermarks) != 1 || st.Watermarks[0].Scope != "project:1" || st.Watermarks[0].UpdatedAt.IsZero() {
		t.Errorf("watermarks: %+v", st.Watermarks)
	}
	if len(st.Runs) != 1 || st.Runs[0].RunID != "run1" || st.Runs[0].Rows["events"] != 3 || st.Runs[0].Requests != 7 ||
		st.Runs[0].FutureRows != 1 || st.Runs[0].Outcome != "success" || !st.Runs[0].End.Equal(mustTime(t, "2024-02-03T05:01:00Z")) {
		t.Errorf("runs: %+v", st.Runs)
	}
}

func openRO(t *testing.T, e *env) *sql.DB {
	t.Helper()
	db, err := OpenReadOnly(e.ctx, e.opts("").DuckDBPath)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

package pipeline

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// lookupLog records the usernames the run looked up (GET /users?username=).
type lookupLog struct {
	mu    sync.Mutex
	names map[string]int
}

func (l *lookupLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name := r.URL.Query().Get("username"); name != "" && r.URL.Path == "/api/v4/users" {
			l.mu.Lock()
			l.names[name]++
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// activityRun runs once and returns the run's result, the activity
// stream's username lookups as its counters saw them, and the lookups the
// server saw, by name.
func activityRun(t *testing.T, h *harness) (Report, int64, map[string]int) {
	t.Helper()
	log := &lookupLog{names: map[string]int{}}
	h.setHandler(log.wrap(h.fake))
	var counters *Counters
	_, _, err := h.runWith(context.Background(), func(j *Job) { counters = j.Counters })
	rep := h.last
	if err != nil || len(rep.Failures) > 0 {
		t.Fatalf("run: %v %+v\n%s", err, rep.Failures, tail(h.logs.String(), 30))
	}
	var lookups int64
	for _, s := range counters.Streams() {
		if s.Name == "activity" {
			lookups = s.Lookups.Load()
		}
	}
	return rep, lookups, log.names
}

// The activity stream, after a full run and after an incremental one: the
// table is exact in DuckDB and Parquet (checkExact holds it against the
// fake's notes, with the action GitLab records beside each); it costs one
// notes request per changed parent (as many as state events, which read
// the same parents and fit one page too); every username is looked up at
// most once a run, only those no listed user has, and counted; the run
// record counts the rows of action 'other'.
func TestActivityFullThenIncremental(t *testing.T) {
	h := newHarness(t, notesInstance(), acmePipeline)
	for run, seed := range []int64{0, 31} {
		if seed != 0 {
			h.fake.AddActivity(seed)
		}
		h.fake.ResetRequests()
		rep, lookups, names := activityRun(t, h)
		unparsed := rep.Record.UnparsedNotes
		h.checkExact(acmeScope(h.fake.Data()))

		req := h.fake.Requests()
		if req["notes"] == 0 || req["notes"] != req["resource_state_events"] {
			t.Errorf("run %d: %d notes requests, want one per changed parent: %d (as state events)", run, req["notes"], req["resource_state_events"])
		}
		// alice is looked up as a users: scope, not for a note.
		if int64(req["user_lookups"]-names["alice"]) != lookups {
			t.Errorf("run %d: the server saw %d username lookups for notes, the stream counted %d", run, req["user_lookups"]-names["alice"], lookups)
		}
		for name, n := range names {
			if n > 1 {
				t.Errorf("run %d: @%s looked up %d times", run, name, n)
			}
			if name != gitlabfake.UnknownUsername && h.fake.Data().UserByName(name) == nil {
				t.Errorf("run %d: looked up @%s, whom no note names", run, name)
			}
		}
		if run == 0 && names[gitlabfake.UnknownUsername] != 1 {
			t.Errorf("the departed user was looked up %d times, want once (lookups %v)", names[gitlabfake.UnknownUsername], names)
		}
		// The run record counts the 'other' rows the run stored, not those
		// it read again (the overlap) and dropped as duplicates.
		if got := h.query("SELECT count(*) FROM activity WHERE action = 'other' AND _run_id = '" + rep.Record.RunID + "'")[0]; got != strconv.FormatInt(unparsed, 10) {
			t.Errorf("run %d: run record counts %d unparsed notes, the run stored %s", run, unparsed, got)
		}
		if rec := h.query("SELECT unparsed_notes FROM _labtrail_runs WHERE run_id = '" + rep.Record.RunID + "'")[0]; rec != strconv.FormatInt(unparsed, 10) {
			t.Errorf("run %d: _labtrail_runs.unparsed_notes %s, record %d", run, rec, unparsed)
		}
		if run == 0 && unparsed == 0 {
			t.Error("the first run stored no unparsed note")
		}
		t.Logf("run %d: activity rows %d, unparsed %d, notes requests %d, lookups %d %v", run, rep.Record.Rows["activity"], unparsed, req["notes"], lookups, names)
	}
	if n := h.query("SELECT count(*) FROM activity WHERE action = 'other'")[0]; n == "0" {
		t.Error("no 'other' row: the test proves nothing about unknown wording")
	}
	if n := h.query("SELECT count(*) FROM activity WHERE list_contains(target_user_ids, NULL) OR len(list_filter(target_user_ids, x -> x IS NULL)) > 0")[0]; n == "0" {
		t.Error("no unresolved username: the test proves nothing about unknown users")
	}
}

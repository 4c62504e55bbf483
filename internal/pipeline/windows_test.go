package pipeline

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/gitlabfake"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
	"github.com/labtrail/labtrail/load"
)

func date(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRemainingWindows(t *testing.T) {
	k := load.WatermarkKey{Pipeline: "p", Scope: "project:1", Stream: "events"}
	win := func(a, b string) load.Window {
		return load.Window{WatermarkKey: k, First: date(t, a), Last: date(t, b)}
	}
	got := remaining(date(t, "2024-03-01"), []load.Window{
		win("2024-02-01", "2024-02-10"), // before the start: stale
		win("2024-02-25", "2024-03-02"), // straddles the start
		win("2024-03-05", "2024-03-09"),
		win("2024-03-10", "2024-03-12"),
		win("2024-03-20", "2024-03-20"),
	})
	want := []extract.DayWindow{
		{First: date(t, "2024-03-03"), Last: date(t, "2024-03-04")},
		{First: date(t, "2024-03-13"), Last: date(t, "2024-03-19")},
		{First: date(t, "2024-03-21")},
	}
	if len(got) != len(want) {
		t.Fatalf("remaining = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].First.Equal(want[i].First) || !got[i].Last.Equal(want[i].Last) {
			t.Errorf("window %d = %v, want %v", i, got[i], want[i])
		}
	}
	if got := remaining(date(t, "2024-03-01"), nil); len(got) != 1 || !got[0].Last.IsZero() {
		t.Errorf("nothing done: %v, want one open window", got)
	}
}

// Whatever the first page says, a window's parts cover it exactly: they
// meet day to day, the first starts where the window does, only the last
// is open (and only if the window is), and every closed part ends before
// yesterday in UTC, so no row can arrive in it after it is read.
func TestSplitCoversTheWindowExactly(t *testing.T) {
	client, err := extract.NewClient(extract.Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	u := &eventsRun{windowed: &windowed{r: &Runner{Client: client, Concurrency: 4}}}
	today := time.Now().UTC().Truncate(day)
	unknown := extract.Extent{Total: -1, TotalPages: -1}
	ev := func(s string) []extract.Event {
		return []extract.Event{{ID: 1, CreatedAt: date(t, s).Add(13 * time.Hour)}}
	}
	for _, tc := range []struct {
		name  string
		w     extract.DayWindow
		ext   extract.Extent
		rows  []extract.Event
		parts int // 0: not split
	}{
		{"small listing", extract.DayWindow{First: date(t, "2024-01-01")}, extract.Extent{Total: 700, TotalPages: 7}, nil, 0},
		{"uncounted, open", extract.DayWindow{First: date(t, "2024-01-01")}, unknown, ev("2024-01-01"), 9},
		{"counted: read page by page, not split", extract.DayWindow{First: date(t, "2024-01-01")}, extract.Extent{Total: 4000, TotalPages: 40}, nil, 0},
		{"counted past GitLab's limit, open", extract.DayWindow{First: date(t, "2024-01-01")}, extract.Extent{Total: 45000, TotalPages: 450}, nil, 6},
		{"first row late", extract.DayWindow{First: date(t, "2023-01-01")}, unknown, ev("2024-06-01"), 9},
		{"closed", extract.DayWindow{First: date(t, "2024-01-01"), Last: date(t, "2024-01-31")}, unknown, nil, 8},
		{"closed, one day", extract.DayWindow{First: date(t, "2024-01-01"), Last: date(t, "2024-01-01")}, unknown, nil, 0},
		{"closed, few days", extract.DayWindow{First: date(t, "2024-01-01"), Last: date(t, "2024-01-03")}, unknown, nil, 3},
		{"all recent", extract.DayWindow{First: today.AddDate(0, 0, -1)}, unknown, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts := u.split(tc.w, tc.ext, tc.rows)
			if len(parts) != tc.parts {
				t.Fatalf("%d parts %v, want %d", len(parts), parts, tc.parts)
			}
			if len(parts) == 0 {
				return
			}
			if !parts[0].First.Equal(tc.w.First) {
				t.Errorf("first part starts %v, window %v", parts[0].First, tc.w.First)
			}
			for i, p := range parts {
				last := i == len(parts)-1
				if p.Last.IsZero() != (last && tc.w.Last.IsZero()) {
					t.Errorf("part %d %v: open-ended %v", i, p, p.Last.IsZero())
				}
				if !p.Last.IsZero() && (p.Last.Before(p.First) || !p.Last.Before(today.AddDate(0, 0, -1))) {
					t.Errorf("part %d %v: empty, or not wholly in the past", i, p)
				}
				if !last && !parts[i+1].First.Equal(p.Last.AddDate(0, 0, 1)) {
					t.Errorf("parts %d and %d do not meet: %v %v", i, i+1, p, parts[i+1])
				}
			}
			if !tc.w.Last.IsZero() && !parts[len(parts)-1].Last.Equal(tc.w.Last) {
				t.Errorf("last part ends %v, window %v", parts[len(parts)-1].Last, tc.w.Last)
			}
		})
	}
}

const bigPipeline = `  - name: big
    projects: [acme/platform/big]
    since: 2024-01-01
`

// windowedRequests counts the Events API requests that asked for a day
// window (before=), cancelling ctx after stopAfter of them (0: never).
func windowedRequests(h *harness, stopAfter int64, cancel func()) *atomic.Int64 {
	var n atomic.Int64
	h.setHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/events") && r.URL.Query().Get("before") != "" {
			if n.Add(1) == stopAfter {
				cancel()
			}
		}
		h.fake.ServeHTTP(w, r)
	}))
	return &n
}

// A project past 10,000 events is read in day windows, exactly; a run
// stopped half way records the windows it finished and the next run reads
// only the others.
func TestBigListingIsReadInWindowsAndResumesOnlyUnfinished(t *testing.T) {
	scale := smallScale()
	scale.BigProjectEvents = 30_000
	opts := gitlabfake.Options{Seed: 12, Scale: scale}
	scope := func(d *gitlabfake.Data) wt.Scope { return wt.ScopeOf(d, nil, []string{"acme/platform/big"}, nil) }

	full := newHarness(t, opts, bigPipeline)
	all := windowedRequests(full, 0, nil)
	full.mustRun()
	full.checkExact(scope(full.fake.Data()))
	if all.Load() < 100 {
		t.Fatalf("only %d windowed requests: the big listing was not read in windows", all.Load())
	}
	if got := full.query("SELECT count(*) FROM _labtrail_windows"); got[0] != "0" {
		t.Errorf("finished run left %s windows behind", got[0])
	}

	h := newHarness(t, opts, bigPipeline)
	ctx, cancel := context.WithCancel(context.Background())
	windowedRequests(h, all.Load()*2/3, cancel)
	if _, _, err := h.run(ctx); err == nil {
		t.Fatal("the stopped run did not notice")
	}
	done := h.query("SELECT count(*) FROM _labtrail_windows")
	if done[0] == "0" {
		t.Fatal("the stopped run recorded no finished window")
	}
	if wm := h.query("SELECT count(*) FROM _labtrail_watermarks WHERE stream = 'events'"); wm[0] != "0" {
		t.Fatal("the stopped run moved the events watermark")
	}
	again := windowedRequests(h, 0, nil)
	h.mustRun()
	h.checkExact(scope(h.fake.Data()))
	if again.Load() >= all.Load()*2/3 {
		t.Errorf("the resumed run made %d windowed requests after %s finished windows; a full run makes %d", again.Load(), done[0], all.Load())
	}
	t.Logf("full run: %d windowed requests; resumed after %s finished windows: %d", all.Load(), done[0], again.Load())
}

// A window GitLab counts is read page by page at once: every page is
// asked for once, and the run is exact even when the count is wrong. A
// server that counts too few pages (rows arrived since page 1) is followed
// past its count from the last page it counted; one that counts too many
// answers the extra pages empty.
func TestCountedWindowsAreReadPageByPage(t *testing.T) {
	scale := smallScale()
	scale.BigProjectEvents = 30_000
	opts := gitlabfake.Options{Seed: 12, Scale: scale}
	scope := func(d *gitlabfake.Data) wt.Scope { return wt.ScopeOf(d, nil, []string{"acme/platform/big"}, nil) }
	for _, tc := range []struct {
		name  string
		count func(pages int) int // what the server says; the real count given
	}{
		{"true count", func(n int) int { return n }},
		{"too few", func(n int) int { return max(2, n/3) }},
		{"too many", func(n int) int { return n + 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts, bigPipeline)
			var mu sync.Mutex
			asked := map[string]int{} // window and page: times asked
			fanned := 0               // pages past 1 of a window whose count was known
			h.setHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if !strings.HasSuffix(r.URL.Path, "/events") || q.Get("before") == "" {
					h.fake.ServeHTTP(w, r)
					return
				}
				mu.Lock()
				asked[q.Get("after")+" "+q.Get("before")+" "+q.Get("page")]++
				if q.Get("page") != "1" {
					fanned++
				}
				mu.Unlock()
				h.fake.ServeHTTP(&recountingWriter{ResponseWriter: w, count: tc.count}, r)
			}))
			h.mustRun()
			h.checkExact(scope(h.fake.Data()))
			mu.Lock()
			defer mu.Unlock()
			if fanned < 100 {
				t.Fatalf("%d pages past the first of counted windows: they were not read", fanned)
			}
			for k, n := range asked {
				if n > 1 && !strings.HasSuffix(k, " 1") {
					t.Errorf("%s asked %d times", k, n)
				}
			}
		})
	}
}

// recountingWriter rewrites an answer's X-Total-Pages (and drops X-Total)
// with count.
type recountingWriter struct {
	http.ResponseWriter
	count func(int) int
	wrote bool
}

func (w *recountingWriter) WriteHeader(code int) {
	w.wrote = true
	h := w.Header()
	if n, err := strconv.Atoi(h.Get("X-Total-Pages")); err == nil {
		h.Set("X-Total-Pages", strconv.Itoa(w.count(n)))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recountingWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// A listing's parts cover it: the first starts where it does, each ends
// where the next starts (that instant is listed twice and de-duplicated),
// and only the last is open, if the listing is.
func TestListingSplitCoversTheWindow(t *testing.T) {
	client, err := extract.NewClient(extract.Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	u := &parentsUnit{r: &Runner{Client: client, Concurrency: 4}}
	since := date(t, "2024-01-01")
	unknown := extract.Extent{Total: -1, TotalPages: -1}
	for _, tc := range []struct {
		name   string
		w      extract.UpdatedWindow
		ext    extract.Extent
		oldest time.Time
		parts  int
	}{
		{"short listing", extract.UpdatedWindow{From: since}, extract.Extent{Total: 300, TotalPages: 3}, since, 0},
		{"uncounted, open", extract.UpdatedWindow{From: since}, unknown, since.Add(time.Hour), 8},
		{"counted", extract.UpdatedWindow{From: since}, extract.Extent{Total: 3000, TotalPages: 30}, time.Time{}, 4},
		{"closed", extract.UpdatedWindow{From: since, Until: since.Add(time.Hour)}, unknown, time.Time{}, 8},
		{"too short to split", extract.UpdatedWindow{From: since, Until: since.Add(90 * time.Second)}, unknown, time.Time{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts := u.split(tc.w, tc.ext, tc.oldest)
			if len(parts) != tc.parts {
				t.Fatalf("%d parts %v, want %d", len(parts), parts, tc.parts)
			}
			for i, p := range parts {
				if i == 0 && !p.From.Equal(tc.w.From) {
					t.Errorf("first part from %v, window from %v", p.From, tc.w.From)
				}
				if i < len(parts)-1 && (!p.Until.Equal(parts[i+1].From) || p.Until.IsZero()) {
					t.Errorf("parts %d and %d do not meet: %v %v", i, i+1, p, parts[i+1])
				}
				if i == len(parts)-1 && !p.Until.Equal(tc.w.Until) {
					t.Errorf("last part until %v, window until %v", p.Until, tc.w.Until)
				}
			}
		})
	}
}

// A project with more issues than one chain of listing pages should carry
// is listed in windows, and still reads every issue's events once.
func TestLongParentListingIsReadInWindows(t *testing.T) {
	scale := smallScale()
	scale.IssuesPerProject = 1000
	scale.MRsPerProject = 5
	h := newHarness(t, gitlabfake.Options{Seed: 14, Scale: scale}, `  - name: big
    projects: [acme/platform/big]
    since: 2024-01-01
`)
	var windowed atomic.Int64
	h.setHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/issues") && r.URL.Query().Get("updated_before") != "" {
			windowed.Add(1)
		}
		h.fake.ServeHTTP(w, r)
	}))
	h.mustRun()
	if windowed.Load() == 0 {
		t.Fatal("the issue listing was not read in windows")
	}
	scope := wt.ScopeOf(h.fake.Data(), nil, []string{"acme/platform/big"}, nil)
	h.withDB(func(db *sql.DB) { wt.CheckExact(t, db, h.cfg.Warehouse.Parquet, h.fake.Data(), scope) })
	h.fake.AddActivity(15)
	h.mustRun()
	h.withDB(func(db *sql.DB) { wt.CheckExact(t, db, h.cfg.Warehouse.Parquet, h.fake.Data(), scope) })
	t.Logf("%d windowed issue listing requests", windowed.Load())
}

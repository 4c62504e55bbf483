package gitlabfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDeterminism(t *testing.T) {
	a := New(Options{Seed: 1}).Data()
	b := New(Options{Seed: 1}).Data()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different data")
	}
	c := New(Options{Seed: 2}).Data()
	if reflect.DeepEqual(a.Events, c.Events) {
		t.Fatal("different seeds gave the same events")
	}

	s1, s2 := New(Options{Seed: 1}), New(Options{Seed: 1})
	if x, y := s1.AddActivity(7), s2.AddActivity(7); x != y {
		t.Fatalf("AddActivity summaries differ: %+v vs %+v", x, y)
	}
	if !reflect.DeepEqual(s1.Data(), s2.Data()) {
		t.Fatal("same AddActivity seed gave different data")
	}
}

func TestTopologyAndDefaults(t *testing.T) {
	d := shared().Data()
	if d.RootUserID != RootID || d.Users[0].Username != "root" {
		t.Fatalf("root: %+v", d.Users[0])
	}
	if g := d.UserByName("ghost"); g == nil || g.Name != "Ghost User" || g.State != "active" {
		t.Fatalf("ghost: %+v", g)
	}
	if len(d.Users) != 2+DefaultScale().Users {
		t.Fatalf("users: %d", len(d.Users))
	}
	blocked := 0
	for _, u := range d.Users {
		if u.State == "blocked" {
			blocked++
		}
	}
	if blocked != 1 {
		t.Fatalf("blocked users: %d", blocked)
	}
	perProject := map[int64]int{}
	for _, e := range d.Events {
		perProject[e.ProjectID]++
	}
	want := map[int64]int{APIProjectID: 400, DBProjectID: 400, BigProjectID: 10_500, ToolProjectID: 400}
	if !reflect.DeepEqual(perProject, want) {
		t.Fatalf("events per project: %v", perProject)
	}
	for i := 1; i < len(d.Events); i++ {
		if d.Events[i].ID <= d.Events[i-1].ID {
			t.Fatal("events not sorted by id")
		}
	}
	// ids follow created_at only roughly
	outOfOrder := 0
	for i := 1; i < len(d.Events); i++ {
		if d.Events[i].CreatedAt.Before(d.Events[i-1].CreatedAt) {
			outOfOrder++
		}
	}
	if outOfOrder == 0 || outOfOrder > len(d.Events)/20 {
		t.Fatalf("out-of-order events: %d", outOfOrder)
	}
	// resource event ids unique per family across parent types; some null labels/users/ghosts
	for _, fam := range famNames {
		evs := d.ResourceEvents(fam)
		if len(evs) == 0 {
			t.Fatalf("no %s events", fam)
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].ID != evs[i-1].ID+1 || evs[i].CreatedAt.Before(evs[i-1].CreatedAt) {
				t.Fatalf("%s events not in id/time order at %d", fam, i)
			}
		}
	}
	var nullLabel, nullUser, ghost, hidden, epicLabel, srcCommit int
	for _, e := range d.LabelEvents {
		if e.LabelID == 0 {
			nullLabel++
		}
		if e.UserID == 0 {
			nullUser++
		}
		if e.UserID == GhostID {
			ghost++
		}
		if e.Hidden {
			hidden++
		}
		if e.ParentType == "Epic" {
			epicLabel++
		}
	}
	for _, e := range d.StateEvents {
		if e.SourceCommit != "" {
			srcCommit++
		}
	}
	if nullLabel == 0 || nullUser == 0 || ghost == 0 || hidden == 0 || epicLabel == 0 || srcCommit == 0 {
		t.Fatalf("quirks missing: nullLabel=%d nullUser=%d ghost=%d hidden=%d epic=%d srcCommit=%d", nullLabel, nullUser, ghost, hidden, epicLabel, srcCommit)
	}
	for _, e := range append(d.IterationEvents, d.WeightEvents...) {
		if e.ParentType != "Issue" || e.ProjectID == ToolProjectID {
			t.Fatalf("iteration/weight event on %s in project %d", e.ParentType, e.ProjectID)
		}
	}
	// states consistent with state events
	last := map[int64]string{}
	for _, e := range d.StateEvents {
		if e.ParentType == "MergeRequest" {
			last[e.ParentID] = e.State
		}
	}
	for _, mr := range d.MergeRequests {
		want := "opened"
		switch last[mr.ID] {
		case "closed":
			want = "closed"
		case "merged":
			want = "merged"
		}
		if mr.State != want || (mr.State == "merged") != (mr.MergedAt != nil) || (mr.State == "closed") != (mr.ClosedAt != nil) {
			t.Fatalf("MR %d state %s (last event %q) merged_at=%v closed_at=%v", mr.ID, mr.State, last[mr.ID], mr.MergedAt, mr.ClosedAt)
		}
		if mr.UpdatedAt.Before(mr.CreatedAt) {
			t.Fatalf("MR %d updated before created", mr.ID)
		}
	}
	// root and alice author events in several projects
	for _, name := range []string{"root", "alice"} {
		u := d.UserByName(name)
		projects := map[int64]bool{}
		for _, e := range d.Events {
			if e.AuthorID == u.ID {
				projects[e.ProjectID] = true
			}
		}
		if len(projects) < 3 {
			t.Fatalf("%s authors events in %d projects", name, len(projects))
		}
	}
}

func TestAuth(t *testing.T) {
	s := shared()
	for _, tc := range []struct {
		name, header, value string
		want                int
	}{
		{"private token", "PRIVATE-TOKEN", testToken, 200},
		{"bearer", "Authorization", "Bearer " + testToken, 200},
		{"wrong token", "PRIVATE-TOKEN", "nope", 401},
		{"wrong bearer", "Authorization", "Bearer nope", 401},
		{"basic", "Authorization", "Basic " + testToken, 401},
		{"missing", "", "", 401},
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/v4/user", nil)
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		rr := httptest.NewRecorder()
		s.ServeHTTP(rr, req)
		if rr.Code != tc.want {
			t.Errorf("%s: got %d", tc.name, rr.Code)
		}
		if tc.want == 401 && strings.TrimSpace(rr.Body.String()) != `{"message":"401 Unauthorized"}` {
			t.Errorf("%s: body %s", tc.name, rr.Body.String())
		}
		if tc.want == 200 {
			if u := decode[tUser](t, rr); u.ID != RootID || u.Username != "root" {
				t.Errorf("current user %+v", u)
			}
		}
	}
}

func TestPagingHeaders(t *testing.T) {
	s := shared()
	d := s.Data()
	n := 0
	for _, e := range d.Events {
		if e.ProjectID == APIProjectID {
			n++
		}
	}
	rr := get(t, s, "/api/v4/projects/acme%2Fapi/events?per_page=50")
	h := rr.Header()
	pages := (n + 49) / 50
	for k, want := range map[string]string{"X-Page": "1", "X-Per-Page": "50", "X-Next-Page": "2", "X-Prev-Page": "",
		"X-Total": strconv.Itoa(n), "X-Total-Pages": strconv.Itoa(pages), "Content-Type": "application/json"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	link := h.Get("Link")
	for _, rel := range []string{`rel="next"`, `rel="first"`, `rel="last"`} {
		if !strings.Contains(link, rel) {
			t.Errorf("Link lacks %s: %s", rel, link)
		}
	}
	if strings.Contains(link, `rel="prev"`) || !strings.Contains(link, "page="+strconv.Itoa(pages)+"&per_page=50") {
		t.Errorf("Link: %s", link)
	}

	rr = get(t, s, "/api/v4/projects/101/events?per_page=50&page="+strconv.Itoa(pages))
	if h := rr.Header(); h.Get("X-Next-Page") != "" || h.Get("X-Prev-Page") != strconv.Itoa(pages-1) ||
		strings.Contains(h.Get("Link"), `rel="next"`) || !strings.Contains(h.Get("Link"), `rel="prev"`) {
		t.Errorf("last page headers: %v", h)
	}
	rr = get(t, s, "/api/v4/projects/101/events?per_page=50&page=999")
	if h := rr.Header(); h.Get("X-Next-Page") != "" || h.Get("X-Prev-Page") != "" || strings.TrimSpace(rr.Body.String()) != "[]" {
		t.Errorf("out of range page: %v %s", h, rr.Body.String())
	}
	rr = get(t, s, "/api/v4/projects/101/events?per_page=500")
	if got := rr.Header().Get("X-Per-Page"); got != "100" {
		t.Errorf("per_page=500 gives X-Per-Page %s", got)
	}
	if rows := decode[[]tEvent](t, rr); len(rows) > 100 {
		t.Errorf("per_page clamp: %d rows", len(rows))
	}
	rr = get(t, s, "/api/v4/projects/101/events")
	if got := rr.Header().Get("X-Per-Page"); got != "20" {
		t.Errorf("default per_page %s", got)
	}
	for _, q := range []string{"per_page=0", "per_page=x", "page=x"} {
		if rr := get(t, s, "/api/v4/projects/101/events?"+q); rr.Code != 400 {
			t.Errorf("%s: %d", q, rr.Code)
		}
	}

	// More than 10,000 rows: no totals, no last link, next still there.
	rr = get(t, s, "/api/v4/projects/acme%2Fplatform%2Fbig/events?per_page=100")
	h = rr.Header()
	if _, ok := h["X-Total"]; ok {
		t.Error("X-Total sent for > 10,000 rows")
	}
	if _, ok := h["X-Total-Pages"]; ok {
		t.Error("X-Total-Pages sent for > 10,000 rows")
	}
	if strings.Contains(h.Get("Link"), `rel="last"`) || !strings.Contains(h.Get("Link"), `rel="next"`) || h.Get("X-Next-Page") != "2" {
		t.Errorf("big project headers: %v", h)
	}
	// current user's events with scope=all cover every project: also > 10,000
	if _, ok := get(t, s, "/api/v4/events?scope=all").Header()["X-Total"]; ok {
		t.Error("X-Total sent for /events?scope=all")
	}
}

// TestHugePageNumber: a page number whose offset does not fit in an int64
// is an empty page past the end, like any other page out of range; it must
// not panic the handler (which, through net/http's recovery, would also
// leave the server's read lock held and hang the next AddActivity).
func TestHugePageNumber(t *testing.T) {
	s := New(Options{Seed: 1, Token: testToken, Scale: Scale{EventsPerProject: 30, BigProjectEvents: 30}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, path := range []string{
		"/api/v4/projects/101/events?per_page=100&page=9223372036854775807",
		"/api/v4/projects/101/events?per_page=100&page=92233720368547759",
		"/api/v4/projects/101/issues?per_page=20&page=9223372036854775807",
		"/api/v4/projects/101/issues/1/resource_label_events?per_page=100&page=9223372036854775807",
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("PRIVATE-TOKEN", testToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" ||
			resp.Header.Get("X-Next-Page") != "" || resp.Header.Get("X-Prev-Page") != "" {
			t.Errorf("%s: %d %q next %q prev %q", path, resp.StatusCode, body, resp.Header.Get("X-Next-Page"), resp.Header.Get("X-Prev-Page"))
		}
		if !s.mu.TryLock() {
			t.Fatalf("%s: the server's lock is still held after the request", path)
		}
		s.mu.Unlock()
	}
}

func TestHiddenRowsShortPages(t *testing.T) {
	s := shared()
	d := s.Data()
	var want []int64
	for _, e := range d.Events {
		if e.ProjectID == BigProjectID && !e.Hidden {
			want = append(want, e.ID)
		}
	}
	pages := fetchAll[tEvent](t, s, "/api/v4/projects/"+itoa64(BigProjectID)+"/events?sort=asc&per_page=100")
	var got []int64
	short, empty := 0, 0
	for i, p := range pages {
		for _, e := range p.rows {
			got = append(got, e.ID)
		}
		if i < len(pages)-1 {
			if len(p.rows) < 100 {
				short++
			}
			if len(p.rows) == 0 {
				empty++
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %d visible events, want %d", len(got), len(want))
	}
	if short == 0 || empty == 0 {
		t.Fatalf("short pages %d, empty pages %d; want both > 0", short, empty)
	}

	// Resource label events of the busy issue: a short page that is not the last.
	pagesR := fetchAll[tResEvent](t, s, "/api/v4/projects/acme%2Fapi/issues/"+itoa64(BusyIssueIID)+"/resource_label_events?per_page=20")
	if len(pagesR) < 3 {
		t.Fatalf("busy issue has %d pages", len(pagesR))
	}
	if len(pagesR[1].rows) >= 20 || pagesR[1].hdr.Get("X-Next-Page") != "3" {
		t.Fatalf("page 2 has %d rows, next %q", len(pagesR[1].rows), pagesR[1].hdr.Get("X-Next-Page"))
	}
}

func eventIDs(evs []tEvent) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func TestEventsAfterBefore(t *testing.T) {
	d := shared().Data()
	// An event late in the UTC day: on day D in UTC, on day D+1 at +02:00.
	var late *Event
	for i := range d.Events {
		e := &d.Events[i]
		if e.ProjectID == BigProjectID && !e.Hidden && e.CreatedAt.UTC().Hour() >= 22 && e.CreatedAt.Before(d.Now.AddDate(0, 0, -10)) {
			late = e
			break
		}
	}
	if late == nil {
		t.Fatal("no late-evening event")
	}
	day := late.CreatedAt.UTC().Format(time.DateOnly)
	for _, loc := range []*time.Location{time.UTC, plus2} {
		s := New(Options{Seed: 1, Token: testToken, Location: loc})
		y, m, dd := late.CreatedAt.UTC().Date()
		afterBound := time.Date(y, m, dd+1, 0, 0, 0, 0, loc)
		beforeBound := time.Date(y, m, dd, 0, 0, 0, 0, loc)
		var wantAfter, wantBefore []int64
		for _, e := range d.Events {
			if e.ProjectID != BigProjectID || e.Hidden {
				continue
			}
			if !e.CreatedAt.Before(afterBound) {
				wantAfter = append(wantAfter, e.ID)
			}
			if e.CreatedAt.Before(beforeBound) {
				wantBefore = append(wantBefore, e.ID)
			}
		}
		gotAfter := eventIDs(flatten(fetchAll[tEvent](t, s, "/api/v4/projects/103/events?sort=asc&per_page=100&after="+day)))
		gotBefore := eventIDs(flatten(fetchAll[tEvent](t, s, "/api/v4/projects/103/events?sort=asc&per_page=100&before="+day)))
		if !slices.Equal(gotAfter, wantAfter) {
			t.Errorf("%s after=%s: %d rows, want %d", loc, day, len(gotAfter), len(wantAfter))
		}
		if !slices.Equal(gotBefore, wantBefore) {
			t.Errorf("%s before=%s: %d rows, want %d", loc, day, len(gotBefore), len(wantBefore))
		}
		// after=D excludes all of D (in the instance zone): the late event is on D in UTC, on D+1 at +02:00.
		if in := slices.Contains(gotAfter, late.ID); in != (loc == plus2) {
			t.Errorf("%s: late event %s in after=%s: %v", loc, late.CreatedAt.UTC(), day, in)
		}
		// combined window = one local day
		both := eventIDs(flatten(fetchAll[tEvent](t, s, "/api/v4/projects/103/events?sort=asc&per_page=100&after="+
			beforeBound.AddDate(0, 0, -1).Format(time.DateOnly)+"&before="+afterBound.Format(time.DateOnly))))
		for _, id := range both {
			e := d.Events[slices.IndexFunc(d.Events, func(e Event) bool { return e.ID == id })]
			if e.CreatedAt.In(loc).Format(time.DateOnly) != day {
				t.Errorf("%s: event %d at %s outside day %s", loc, id, e.CreatedAt.In(loc), day)
			}
		}
		if len(both) == 0 {
			t.Errorf("%s: no events on %s", loc, day)
		}
	}
	for _, q := range []string{"after=2026-13-01", "after=yesterday", "before=20261101"} {
		rr := get(t, shared(), "/api/v4/events?"+q)
		name := strings.SplitN(q, "=", 2)[0]
		if rr.Code != 400 || strings.TrimSpace(rr.Body.String()) != `{"error":"`+name+` is invalid"}` {
			t.Errorf("%s: %d %s", q, rr.Code, rr.Body.String())
		}
	}
}

func TestEventFiltersAndSort(t *testing.T) {
	s := shared()
	d := s.Data()
	asc := eventIDs(flatten(fetchAll[tEvent](t, s, "/api/v4/projects/acme%2Fapi/events?sort=asc&per_page=100")))
	desc := eventIDs(flatten(fetchAll[tEvent](t, s, "/api/v4/projects/acme%2Fapi/events?per_page=100")))
	if !slices.IsSorted(asc) || len(asc) == 0 {
		t.Fatal("asc not sorted by id")
	}
	rev := slices.Clone(desc)
	slices.Reverse(rev)
	if !slices.Equal(rev, asc) {
		t.Fatal("default order is not id desc")
	}
	var wantClosed []int64
	for _, e := range d.Events {
		if e.ProjectID == APIProjectID && !e.Hidden && e.Action == "closed" && e.TargetType == "Issue" {
			wantClosed = append(wantClosed, e.ID)
		}
	}
	got := flatten(fetchAll[tEvent](t, s, "/api/v4/projects/101/events?sort=asc&per_page=100&action=closed&target_type=issue"))
	if !slices.Equal(eventIDs(got), wantClosed) || len(got) == 0 {
		t.Fatalf("action/target_type filter: %d rows, want %d", len(got), len(wantClosed))
	}
	for _, e := range got {
		if e.ActionName != "closed" || *e.TargetType != "Issue" || e.Author == nil || e.Author.ID != e.AuthorID || e.AuthorUsername != e.Author.Username {
			t.Fatalf("bad closed event %+v", e)
		}
	}
	for _, q := range []string{"action=opened", "target_type=Issue", "sort=up"} {
		if rr := get(t, s, "/api/v4/projects/101/events?"+q); rr.Code != 400 {
			t.Errorf("%s: %d", q, rr.Code)
		}
	}
	// shapes: notes, pushes, wiki
	var sawNote, sawPush, sawNew, sawWiki bool
	for _, e := range flatten(fetchAll[tEvent](t, s, "/api/v4/projects/101/events?per_page=100")) {
		switch {
		case e.Note != nil:
			sawNote = true
			want := "Note" // GitLab's target_type is the note's class
			if e.Note.Type != nil {
				want = *e.Note.Type
			}
			if e.ActionName != "commented on" || *e.TargetType != want || *e.TargetID != e.Note.ID || e.Note.NoteableIID == 0 {
				t.Fatalf("note event %+v", e)
			}
		case e.PushData != nil:
			sawPush = true
			if e.TargetType != nil || e.TargetID != nil || e.TargetTitle != nil {
				t.Fatalf("push event with target %+v", e)
			}
			if e.ActionName == "pushed new" && e.PushData.CommitFrom == nil {
				sawNew = true
			}
		case e.WikiPage != nil:
			sawWiki = true
			if *e.TargetType != "WikiPage::Meta" {
				t.Fatalf("wiki event %+v", e)
			}
		}
	}
	if !sawNote || !sawPush || !sawNew || !sawWiki {
		t.Fatalf("note %v push %v new %v wiki %v", sawNote, sawPush, sawNew, sawWiki)
	}
}

func TestUserAndCurrentUserEvents(t *testing.T) {
	s := shared()
	d := s.Data()
	alice := d.UserByName("alice")
	count := func(author int64) (all, visible int) {
		for _, e := range d.Events {
			if e.AuthorID == author {
				all++
				if !e.Hidden {
					visible++
				}
			}
		}
		return
	}
	for _, path := range []string{"/api/v4/users/alice/events", "/api/v4/users/" + itoa64(alice.ID) + "/events"} {
		rr := get(t, s, path)
		all, _ := count(alice.ID)
		if rr.Code != 200 || rr.Header().Get("X-Total") != strconv.Itoa(all) {
			t.Errorf("%s: %d total %s want %d", path, rr.Code, rr.Header().Get("X-Total"), all)
		}
	}
	all, visible := count(RootID)
	pages := fetchAll[tEvent](t, s, "/api/v4/events?per_page=100")
	evs := flatten(pages)
	if pages[0].hdr.Get("X-Total") != strconv.Itoa(all) || len(evs) != visible {
		t.Errorf("/events: total %s rows %d, want %d/%d", pages[0].hdr.Get("X-Total"), len(evs), all, visible)
	}
	for _, e := range evs {
		if e.AuthorID != RootID {
			t.Fatalf("/events returned an event by %d", e.AuthorID)
		}
	}
	if rr := get(t, s, "/api/v4/users/nobody/events"); rr.Code != 404 || !strings.Contains(rr.Body.String(), "404 User Not Found") {
		t.Errorf("unknown user: %d %s", rr.Code, rr.Body.String())
	}
	us := decode[[]tUser](t, get(t, s, "/api/v4/users?username=alice"))
	if len(us) != 1 || us[0].ID != alice.ID {
		t.Errorf("users?username=alice: %+v", us)
	}
	if us := decode[[]tUser](t, get(t, s, "/api/v4/users?username=zed")); len(us) != 0 {
		t.Errorf("users?username=zed: %+v", us)
	}
	if u := decode[tUser](t, get(t, s, "/api/v4/users/ghost")); u.ID != GhostID || u.Name != "Ghost User" {
		t.Errorf("ghost: %+v", u)
	}
}

func TestForbiddenAndNotFound(t *testing.T) {
	s := shared()
	d := s.Data()
	var toolIssue, apiMR int64
	for _, is := range d.Issues {
		if is.ProjectID == ToolProjectID {
			toolIssue = is.IID
			break
		}
	}
	for _, mr := range d.MergeRequests {
		if mr.ProjectID == APIProjectID {
			apiMR = mr.IID
			break
		}
	}
	var epicID, epicIID int64
	for _, ep := range d.Epics {
		if ep.GroupID == AcmeID {
			epicID, epicIID = ep.ID, ep.IID
			break
		}
	}
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/api/v4/groups/freeorg/epics", 403, `{"message":"403 Forbidden"}`},
		{"/api/v4/groups/20/epics", 403, `{"message":"403 Forbidden"}`},
		{"/api/v4/projects/freeorg%2Ftool/issues/" + itoa64(toolIssue) + "/resource_iteration_events", 403, `{"message":"403 Forbidden"}`},
		{"/api/v4/projects/104/issues/" + itoa64(toolIssue) + "/resource_weight_events", 403, `{"message":"403 Forbidden"}`},
		{"/api/v4/projects/104/issues/" + itoa64(toolIssue) + "/resource_label_events", 200, ""},
		{"/api/v4/projects/101/merge_requests/" + itoa64(apiMR) + "/resource_state_events", 200, ""},
		{"/api/v4/projects/999/events", 404, `{"message":"404 Project Not Found"}`},
		{"/api/v4/projects/acme%2Fnope/issues", 404, `{"message":"404 Project Not Found"}`},
		{"/api/v4/projects/acme/api/events", 404, `{"error":"404 Not Found"}`}, // unencoded path
		{"/api/v4/groups/nope/epics", 404, `{"message":"404 Group Not Found"}`},
		{"/api/v4/users/999/events", 404, `{"message":"404 User Not Found"}`},
		{"/api/v4/projects/101/issues/99999/resource_label_events", 404, `{"message":"404 Not found"}`},
		{"/api/v4/projects/101/merge_requests/99999/resource_milestone_events", 404, `{"message":"404 Not found"}`},
		{"/api/v4/groups/acme/epics/" + itoa64(epicIID) + "/resource_label_events", 404, `{"message":"404 Not found"}`}, // IID, not id
		{"/api/v4/groups/acme/epics/" + itoa64(epicID) + "/resource_label_events", 200, ""},
		{"/api/v4/groups/acme/epics/" + itoa64(epicID) + "/resource_state_events", 200, ""},
		{"/api/v4/groups/acme/epics/" + itoa64(epicID), 404, `{"message":"404 Not found"}`}, // the single-epic API takes the IID
		{"/api/v4/groups/acme/epics/" + itoa64(epicIID), 200, ""},
		{"/api/v4/unknown", 404, `{"error":"404 Not Found"}`},
	} {
		rr := get(t, s, tc.path)
		if rr.Code != tc.code || (tc.body != "" && strings.TrimSpace(rr.Body.String()) != tc.body) {
			t.Errorf("%s: %d %s; want %d %s", tc.path, rr.Code, rr.Body.String(), tc.code, tc.body)
		}
	}
}

func TestIssuesUpdatedAfterInclusive(t *testing.T) {
	s := shared()
	d := s.Data()
	var target Issue
	for _, is := range d.Issues {
		if is.ProjectID == ToolProjectID && is.UpdatedAt.After(is.CreatedAt) {
			target = is
		}
	}
	z := d.Project(ToolProjectID).Zone
	at := target.UpdatedAt.In(z).Format("2006-01-02T15:04:05.000Z07:00")
	ids := func(q string) []int64 {
		var out []int64
		for _, is := range flatten(fetchAll[tIssue](t, s, "/api/v4/projects/freeorg%2Ftool/issues?scope=all&state=all&per_page=100&order_by=updated_at&sort=asc&updated_after="+q)) {
			out = append(out, is.ID)
			if u := parseTS(t, is.UpdatedAt); u.Before(target.UpdatedAt) {
				t.Errorf("issue %d updated %s before %s", is.ID, u, target.UpdatedAt)
			}
		}
		return out
	}
	incl := ids(strings.ReplaceAll(at, "+", "%2B"))
	if !slices.Contains(incl, target.ID) {
		t.Fatalf("updated_after=%s excludes issue %d updated at that instant", at, target.ID)
	}
	next := target.UpdatedAt.Add(time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
	if slices.Contains(ids(next), target.ID) {
		t.Fatalf("updated_after=%s includes issue %d", next, target.ID)
	}
	// order_by=updated_at sort=asc is ordered
	all := flatten(fetchAll[tIssue](t, s, "/api/v4/projects/104/issues?per_page=7&order_by=updated_at&sort=asc"))
	if len(all) != DefaultScale().IssuesPerProject {
		t.Fatalf("%d issues", len(all))
	}
	for i := 1; i < len(all); i++ {
		if parseTS(t, all[i].UpdatedAt).Before(parseTS(t, all[i-1].UpdatedAt)) {
			t.Fatal("not ordered by updated_at")
		}
	}
	if rr := get(t, s, "/api/v4/projects/104/issues?updated_after=soon"); rr.Code != 400 {
		t.Errorf("bad updated_after: %d", rr.Code)
	}
	// merge requests: merged ones carry merged_at
	mrs := flatten(fetchAll[tIssue](t, s, "/api/v4/projects/101/merge_requests?state=all&per_page=100"))
	merged := 0
	for _, mr := range mrs {
		if (mr.State == "merged") != (mr.MergedAt != nil) {
			t.Fatalf("MR %d state %s merged_at %v", mr.IID, mr.State, mr.MergedAt)
		}
		if mr.State == "merged" {
			merged++
		}
	}
	if len(mrs) != DefaultScale().MRsPerProject || merged == 0 {
		t.Fatalf("%d MRs, %d merged", len(mrs), merged)
	}
}

func TestEpicsIncludeSubgroups(t *testing.T) {
	s := shared()
	per := DefaultScale().EpicsPerGroup
	acme := flatten(fetchAll[tEpic](t, s, "/api/v4/groups/acme/epics?per_page=5"))
	platform := flatten(fetchAll[tEpic](t, s, "/api/v4/groups/acme%2Fplatform/epics?per_page=100"))
	own := flatten(fetchAll[tEpic](t, s, "/api/v4/groups/10/epics?include_descendant_groups=false&per_page=100"))
	if len(acme) != 2*per || len(platform) != per || len(own) != per {
		t.Fatalf("acme %d, platform %d, acme only %d", len(acme), len(platform), len(own))
	}
	for _, ep := range platform {
		if !slices.ContainsFunc(acme, func(e tEpic) bool { return e.ID == ep.ID }) || ep.GroupID != PlatformID {
			t.Fatalf("subgroup epic %+v missing from acme listing", ep)
		}
	}
	projects := flatten(fetchAll[struct {
		PathWithNamespace string `json:"path_with_namespace"`
	}](t, s, "/api/v4/groups/acme/projects?include_subgroups=true&per_page=100"))
	if len(projects) != 3 {
		t.Fatalf("acme projects with subgroups: %v", projects)
	}
	if n := len(flatten(fetchAll[tEpic](t, s, "/api/v4/groups/acme/projects?per_page=100"))); n != 1 {
		t.Fatalf("acme projects without subgroups: %d", n)
	}
}

var tsRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|\+02:00)$`)

func TestTimestampsAndShapes(t *testing.T) {
	s := shared()
	d := s.Data()
	for pid, suffix := range map[int64]string{APIProjectID: "Z", ToolProjectID: "+02:00"} {
		evs := decode[[]tEvent](t, get(t, s, "/api/v4/projects/"+itoa64(pid)+"/events?per_page=100&sort=asc"))
		for _, e := range evs {
			if !tsRE.MatchString(e.CreatedAt) || !strings.HasSuffix(e.CreatedAt, suffix) {
				t.Fatalf("project %d timestamp %q", pid, e.CreatedAt)
			}
			want := d.Events[slices.IndexFunc(d.Events, func(x Event) bool { return x.ID == e.ID })].CreatedAt
			if !parseTS(t, e.CreatedAt).Equal(want) {
				t.Fatalf("event %d at %s, data says %s", e.ID, e.CreatedAt, want)
			}
		}
		iss := decode[[]tIssue](t, get(t, s, "/api/v4/projects/"+itoa64(pid)+"/issues"))
		if !strings.HasSuffix(iss[0].CreatedAt, suffix) || !tsRE.MatchString(iss[0].UpdatedAt) {
			t.Fatalf("issue timestamps %+v", iss[0])
		}
	}

	// Iteration events: iteration object with an integer state; weight events: issue_id, no resource_type.
	var it, wt *ResourceEvent
	for i := range d.IterationEvents {
		if d.IterationEvents[i].IterationID != 0 {
			it = &d.IterationEvents[i]
			break
		}
	}
	for i := range d.WeightEvents {
		wt = &d.WeightEvents[i]
		break
	}
	if it == nil || wt == nil {
		t.Fatal("no iteration or weight events")
	}
	rr := get(t, s, "/api/v4/projects/"+itoa64(it.ProjectID)+"/issues/"+itoa64(it.ParentIID)+"/resource_iteration_events?per_page=100")
	var raw []map[string]json.RawMessage
	json.Unmarshal(rr.Body.Bytes(), &raw)
	found := false
	for _, r := range raw {
		if string(r["id"]) != itoa64(it.ID) {
			continue
		}
		found = true
		var iter map[string]json.RawMessage
		json.Unmarshal(r["iteration"], &iter)
		if st := string(iter["state"]); st != "1" && st != "2" && st != "3" {
			t.Errorf("iteration state %s", st)
		}
		for _, k := range []string{"id", "iid", "group_id", "title", "start_date", "due_date", "web_url"} {
			if _, ok := iter[k]; !ok {
				t.Errorf("iteration lacks %s", k)
			}
		}
		if string(r["resource_type"]) != `"Issue"` || string(r["action"]) == "" {
			t.Errorf("iteration event %v", r)
		}
	}
	if !found {
		t.Fatalf("iteration event %d not served: %s", it.ID, rr.Body.String())
	}
	rr = get(t, s, "/api/v4/projects/"+itoa64(wt.ProjectID)+"/issues/"+itoa64(wt.ParentIID)+"/resource_weight_events?per_page=100")
	raw = nil
	json.Unmarshal(rr.Body.Bytes(), &raw)
	if len(raw) == 0 {
		t.Fatalf("no weight events: %s", rr.Body.String())
	}
	for _, r := range raw {
		if _, ok := r["resource_type"]; ok {
			t.Error("weight event has resource_type")
		}
		if string(r["issue_id"]) != itoa64(wt.ParentID) {
			t.Errorf("weight event issue_id %s, want %d", r["issue_id"], wt.ParentID)
		}
		if _, ok := r["weight"]; !ok {
			t.Error("weight event lacks weight")
		}
	}

	// A deleted label renders label: null; an old row renders user: null.
	var nl, nu *ResourceEvent
	for i := range d.LabelEvents {
		e := &d.LabelEvents[i]
		if e.Hidden || e.ParentType != "Issue" {
			continue
		}
		if e.LabelID == 0 && nl == nil {
			nl = e
		}
		if e.UserID == 0 && nu == nil {
			nu = e
		}
	}
	for _, e := range []*ResourceEvent{nl, nu} {
		evs := flatten(fetchAll[tResEvent](t, s, "/api/v4/projects/"+itoa64(e.ProjectID)+"/issues/"+itoa64(e.ParentIID)+"/resource_label_events?per_page=100"))
		i := slices.IndexFunc(evs, func(x tResEvent) bool { return x.ID == e.ID })
		if i < 0 {
			t.Fatalf("label event %d not served", e.ID)
		}
		got := evs[i]
		if got.ResourceType != "Issue" || got.ResourceID != e.ParentID || !slices.IsSortedFunc(evs, func(a, b tResEvent) int { return int(a.ID - b.ID) }) {
			t.Errorf("label event %+v", got)
		}
		if e == nl && string(got.Label) != "null" {
			t.Errorf("deleted label rendered %s", got.Label)
		}
		if e == nu && got.User != nil {
			t.Errorf("null user rendered %+v", got.User)
		}
	}
}

func TestFaultInjection(t *testing.T) {
	s := New(Options{Seed: 1, Token: testToken, FailEvery: 3})
	var codes []int
	for range 12 {
		rr := get(t, s, "/api/v4/projects/101/events")
		codes = append(codes, rr.Code)
		if rr.Code >= 500 {
			var m map[string]string
			if err := json.Unmarshal(rr.Body.Bytes(), &m); err != nil || m["message"] == "" {
				t.Errorf("5xx body %s", rr.Body.String())
			}
		}
		if rr.Header().Get("RateLimit-Limit") != "2000" || rr.Header().Get("RateLimit-Reset") == "" || rr.Header().Get("RateLimit-ResetTime") == "" {
			t.Errorf("rate limit headers missing: %v", rr.Header())
		}
	}
	want := []int{200, 200, 500, 200, 200, 502, 200, 200, 503, 200, 200, 504}
	if !slices.Equal(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if got := s.Requests()["project_events"]; got != 12 {
		t.Fatalf("counted %d project_events requests", got)
	}
	s.ResetRequests()
	s.SetFaults(0, 0, 0)
	for range 5 {
		if rr := get(t, s, "/api/v4/projects/101/events"); rr.Code != 200 {
			t.Fatalf("faults off: %d", rr.Code)
		}
	}
	if r := s.Requests(); r["project_events"] != 5 || r["other"] != 0 {
		t.Fatalf("requests after reset: %v", r)
	}
}

func TestCutBodies(t *testing.T) {
	s := New(Options{Seed: 1, Token: testToken, CutEvery: 2})
	srv := httptest.NewServer(s)
	defer srv.Close()
	fetch := func() (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v4/projects/101/events?per_page=50", nil)
		req.Header.Set("PRIVATE-TOKEN", testToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	// request 1 fine; 2 cut with Content-Length then closed; 3 fine; 4 cut without Content-Length.
	for i := 1; i <= 4; i++ {
		resp, body, err := fetch()
		switch i {
		case 1, 3:
			if err != nil || resp.StatusCode != 200 || !json.Valid(body) {
				t.Fatalf("request %d: %v %v", i, err, resp)
			}
		case 2:
			if err == nil {
				t.Fatalf("request 2: read %d bytes without error (Content-Length %d)", len(body), resp.ContentLength)
			}
			if resp != nil && resp.StatusCode != 200 {
				t.Fatalf("request 2: status %d", resp.StatusCode)
			}
		case 4:
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("request 4: %v", err)
			}
			if resp.ContentLength != -1 || json.Valid(body) || len(body) == 0 {
				t.Fatalf("request 4: Content-Length %d, valid JSON %v, %d bytes", resp.ContentLength, json.Valid(body), len(body))
			}
		}
	}
	// Direct use with a recorder (no connection to abort) does not panic and
	// still yields a 200 with invalid JSON: request 5 is whole, 6 is cut.
	if rr := get(t, s, "/api/v4/projects/101/events"); rr.Code != 200 || !json.Valid(rr.Body.Bytes()) {
		t.Fatalf("request 5: %d", rr.Code)
	}
	if rr := get(t, s, "/api/v4/projects/101/events"); rr.Code != 200 || json.Valid(rr.Body.Bytes()) || rr.Body.Len() == 0 {
		t.Fatalf("request 6: %d valid=%v", rr.Code, json.Valid(rr.Body.Bytes()))
	}
}

func TestRateLimit(t *testing.T) {
	s := New(Options{Seed: 1, Token: testToken, RateLimit: 0.1, RateLimitPerMinute: 600})
	limited := 0
	for i := range 6 {
		rr := get(t, s, "/api/v4/projects/101/events")
		if i == 0 && rr.Code != 200 {
			t.Fatalf("first request: %d", rr.Code)
		}
		if rr.Code == http.StatusTooManyRequests {
			limited++
			if rr.Header().Get("Retry-After") != "1" || rr.Header().Get("RateLimit-Limit") != "600" ||
				rr.Header().Get("RateLimit-Observed") == "" || rr.Header().Get("RateLimit-Remaining") == "" {
				t.Fatalf("429 headers: %v", rr.Header())
			}
			// An instant on the instance's clock (Date), within its minute.
			reset, err := strconv.ParseInt(rr.Header().Get("RateLimit-Reset"), 10, 64)
			date, derr := http.ParseTime(rr.Header().Get("Date"))
			if wait := time.Unix(reset, 0).Sub(date); err != nil || derr != nil || wait < 0 || wait > 61*time.Second {
				t.Fatalf("RateLimit-Reset %q, Date %q", rr.Header().Get("RateLimit-Reset"), rr.Header().Get("Date"))
			}
			if _, err := http.ParseTime(rr.Header().Get("RateLimit-ResetTime")); err != nil {
				t.Fatalf("RateLimit-ResetTime: %v", err)
			}
		}
	}
	if limited == 0 {
		t.Fatal("no request was rate limited")
	}
	if got := s.Requests()["project_events"]; got != 6 {
		t.Fatalf("counted %d", got)
	}
	s.SetFaults(0, 0, 0)
	if rr := get(t, s, "/api/v4/projects/101/events"); rr.Code != 200 {
		t.Fatalf("rate limit off: %d", rr.Code)
	}
}

func TestAddActivity(t *testing.T) {
	s := New(Options{Seed: 1, Token: testToken})
	before := s.Data()
	var newest time.Time
	var maxID int64
	for _, e := range before.Events {
		if e.CreatedAt.After(newest) {
			newest = e.CreatedAt
		}
		maxID = max(maxID, e.ID)
	}
	maxLabel := before.LabelEvents[len(before.LabelEvents)-1].ID
	sum := s.AddActivity(42)
	after := s.Data()

	if !after.Now.After(before.Now) || !sum.Now.Equal(after.Now) {
		t.Fatalf("Now %s -> %s", before.Now, after.Now)
	}
	if len(after.Events)-len(before.Events) != sum.Events || sum.Events == 0 {
		t.Fatalf("events %d -> %d, summary %d", len(before.Events), len(after.Events), sum.Events)
	}
	sameDay := map[int64]int{}
	for _, e := range after.Events[len(before.Events):] {
		if e.ID <= maxID || !e.CreatedAt.After(newest) || e.CreatedAt.After(after.Now) {
			t.Fatalf("new event %d at %s (old max id %d, newest %s)", e.ID, e.CreatedAt, maxID, newest)
		}
		if e.CreatedAt.UTC().Format(time.DateOnly) == newest.UTC().Format(time.DateOnly) {
			sameDay[e.ProjectID]++
		}
	}
	if len(sameDay) != len(after.Projects) {
		t.Fatalf("same-day new events per project: %v", sameDay)
	}
	if sum.Issues != 4 || sum.MergeRequests != 4 || sum.TouchedParents == 0 || sum.LabelEvents == 0 {
		t.Fatalf("summary %+v", sum)
	}
	for _, e := range after.LabelEvents[len(before.LabelEvents):] {
		if e.ID <= maxLabel {
			t.Fatal("label event ids do not continue")
		}
	}

	// An incremental client asking after=<day before the old newest> sees the same-day additions.
	day := newest.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	got := eventIDs(flatten(fetchAll[tEvent](t, s, "/api/v4/projects/101/events?sort=asc&per_page=100&after="+day)))
	for _, e := range after.Events[len(before.Events):] {
		if e.ProjectID == APIProjectID && !e.Hidden && !slices.Contains(got, e.ID) {
			t.Fatalf("new event %d missing from after=%s", e.ID, day)
		}
	}

	// updated_after=<old Now> finds every parent that moved; the rapid-edit quirk leaves one behind its newest event.
	if sum.RapidEdits == 0 {
		t.Fatal("no rapid edit")
	}
	moved := map[int64]bool{}
	for _, is := range after.Issues {
		if is.ProjectID == APIProjectID && !is.UpdatedAt.Before(before.Now) {
			moved[is.ID] = true
		}
	}
	listed := flatten(fetchAll[tIssue](t, s, "/api/v4/projects/101/issues?per_page=100&order_by=updated_at&sort=asc&updated_after="+
		before.Now.Format(time.RFC3339)))
	if len(listed) != len(moved) || len(listed) == 0 {
		t.Fatalf("updated_after listed %d issues, want %d", len(listed), len(moved))
	}
	newestRes := map[pkey]time.Time{}
	for _, fam := range famNames {
		for _, e := range after.ResourceEvents(fam) {
			k := pkey{typOf(e.ParentType), e.ParentID}
			if e.CreatedAt.After(newestRes[k]) {
				newestRes[k] = e.CreatedAt
			}
		}
	}
	behind := 0
	for _, is := range after.Issues {
		if newestRes[pkey{ptIssue, is.ID}].After(is.UpdatedAt) {
			behind++
		}
	}
	if behind == 0 {
		t.Fatal("no issue has a resource event newer than its updated_at")
	}
	// Served listings and resource events reflect the new data.
	rr := get(t, s, "/api/v4/projects/101/issues?per_page=1&order_by=created_at&sort=desc")
	if is := decode[[]tIssue](t, rr); len(is) != 1 || !parseTS(t, is[0].CreatedAt).After(before.Now) {
		t.Fatalf("newest issue %+v", is)
	}

	// A second round keeps going forward.
	sum2 := s.AddActivity(43)
	if !sum2.Now.After(sum.Now) || sum2.SameDayEvents == 0 {
		t.Fatalf("second round %+v", sum2)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New(Options{Seed: 3, Token: testToken})
	var wg sync.WaitGroup
	paths := []string{"/api/v4/projects/103/events?per_page=100&page=7", "/api/v4/events?after=2026-10-01",
		"/api/v4/projects/101/issues?updated_after=2026-10-01T00:00:00Z", "/api/v4/groups/acme/epics",
		"/api/v4/projects/102/issues/2/resource_label_events"}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				rr := get(t, s, paths[(w+i)%len(paths)])
				if rr.Code != 200 || !json.Valid(rr.Body.Bytes()) {
					t.Errorf("%s: %d", paths[(w+i)%len(paths)], rr.Code)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 3 {
			s.AddActivity(int64(i))
			_ = s.Data()
		}
	}()
	wg.Wait()
}

func TestLargeScale(t *testing.T) {
	if testing.Short() {
		t.Skip("large instance")
	}
	s := New(Options{Seed: 1, Scale: Scale{EventsPerProject: 5000, BigProjectEvents: 135_000, IssuesPerProject: 300, MRsPerProject: 150}})
	d := s.Data()
	if len(d.Events) != 150_000 {
		t.Fatalf("%d events", len(d.Events))
	}
	rr := get(t, s, "/api/v4/projects/103/events?per_page=100&page=1000&sort=asc")
	if rr.Code != 200 || rr.Header().Get("X-Next-Page") != "1001" {
		t.Fatalf("deep page: %d %v", rr.Code, rr.Header())
	}
}

func BenchmarkNew150k(b *testing.B) {
	for b.Loop() {
		New(Options{Seed: 1, Scale: Scale{EventsPerProject: 5000, BigProjectEvents: 135_000, IssuesPerProject: 300, MRsPerProject: 150}})
	}
}

func BenchmarkPageBigProject(b *testing.B) {
	s := New(Options{Seed: 1})
	req := httptest.NewRequest(http.MethodGet, "/api/v4/projects/103/events?per_page=100&page=50&sort=asc", nil)
	for b.Loop() {
		rr := httptest.NewRecorder()
		s.ServeHTTP(rr, req)
	}
}

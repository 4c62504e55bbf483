package gitlabfake

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type request struct {
	r    *http.Request
	q    url.Values
	segs []string
	rw   *resp
}

type handler func(s *Server, rq *request)

// splitPath returns the decoded segments after /api/v4, keeping
// URL-encoded slashes inside a segment (acme%2Fapi).
func splitPath(r *http.Request) ([]string, bool) {
	p := r.URL.EscapedPath()
	const prefix = "/api/v4/"
	if !strings.HasPrefix(p, prefix) {
		return nil, false
	}
	raw := strings.Split(strings.TrimSuffix(p[len(prefix):], "/"), "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

var resourceFamilies = map[string]int{
	"resource_label_events": famLabel, "resource_state_events": famState, "resource_milestone_events": famMilestone,
	"resource_iteration_events": famIteration, "resource_weight_events": famWeight,
}

// route maps a path to its request kind and handler (nil: unknown route).
func route(segs []string) (string, handler) {
	n := len(segs)
	if n == 0 {
		return "other", nil
	}
	switch segs[0] {
	case "user":
		if n == 1 {
			return "other", (*Server).getCurrentUser
		}
	case "events":
		if n == 1 {
			return "current_user_events", (*Server).getCurrentUserEvents
		}
	case "audit_events":
		if n == 1 {
			return "audit_events", (*Server).getInstanceAudit
		}
	case "users":
		switch {
		case n == 1:
			return "users", (*Server).listUsers
		case n == 2:
			return "other", (*Server).getUser
		case n == 3 && segs[2] == "events":
			return "user_events", (*Server).getUserEvents
		}
	case "projects":
		switch {
		case n == 2:
			return "other", (*Server).getProject
		case n == 3 && segs[2] == "events":
			return "project_events", (*Server).getProjectEvents
		case n == 3 && segs[2] == "audit_events":
			return "audit_events", (*Server).getProjectAudit
		case n == 3 && segs[2] == "issues":
			return "issues", (*Server).listIssues
		case n == 3 && segs[2] == "merge_requests":
			return "merge_requests", (*Server).listMRs
		case n == 4 && (segs[2] == "issues" || segs[2] == "merge_requests"):
			return "other", (*Server).getIssuable
		case n == 5 && (segs[2] == "issues" || segs[2] == "merge_requests") && segs[4] == "notes":
			return "notes", (*Server).getNotes
		case n == 5 && (segs[2] == "issues" || segs[2] == "merge_requests"):
			if _, ok := resourceFamilies[segs[4]]; ok {
				return segs[4], (*Server).getResourceEvents
			}
		}
	case "groups":
		switch {
		case n == 2:
			return "other", (*Server).getGroup
		case n == 3 && segs[2] == "projects":
			return "group_projects", (*Server).listGroupProjects
		case n == 3 && segs[2] == "epics":
			return "epics", (*Server).listEpics
		case n == 3 && segs[2] == "audit_events":
			return "audit_events", (*Server).getGroupAudit
		case n == 4 && segs[2] == "epics":
			return "other", (*Server).getEpic
		case n == 5 && segs[2] == "epics" && segs[4] == "notes":
			return "notes", (*Server).getNotes
		case n == 5 && segs[2] == "epics":
			if _, ok := resourceFamilies[segs[4]]; ok {
				return segs[4], (*Server).getResourceEvents
			}
		}
	}
	return "other", nil
}

// ---- pagination (lib/gitlab/pagination/offset_pagination.rb) ----

const maxCountLimit = 10_000

type pager struct{ page, per int }

func parsePager(rq *request) (pager, bool) {
	p := pager{page: 1, per: 20}
	if v := rq.q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			rq.rw.errorMsg(http.StatusBadRequest, "page is invalid")
			return p, false
		}
		p.page = max(1, n)
	}
	if v := rq.q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			rq.rw.errorMsg(http.StatusBadRequest, "per_page is invalid")
			return p, false
		case n == 0:
			rq.rw.errorMsg(http.StatusBadRequest, "per_page has a value not allowed")
			return p, false
		case n > 0:
			p.per = min(n, 100)
		}
	}
	return p, true
}

// cut returns the [start, end) bounds of the page over n rows and sets the
// pagination headers, exactly like GitLab: totals and the last link only
// when n <= 10,000; next/prev empty when out of range.
func (p pager) cut(rq *request, n int) (int, int) {
	totalPages := (n + p.per - 1) / p.per
	start := n // past the end, also when (page-1)*per would overflow
	if p.page-1 <= n/p.per {
		start = (p.page - 1) * p.per
	}
	end := min(start+p.per, n)
	out := p.page > totalPages
	next, prev := "", ""
	if !out && end < n {
		next = strconv.Itoa(p.page + 1)
	}
	if !out && p.page > 1 {
		prev = strconv.Itoa(p.page - 1)
	}
	h := rq.rw.header
	h.Set("X-Page", strconv.Itoa(p.page))
	h.Set("X-Per-Page", strconv.Itoa(p.per))
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	var links []string
	if prev != "" {
		links = append(links, `<`+pageURL(rq, p.page-1, p.per)+`>; rel="prev"`)
	}
	if next != "" {
		links = append(links, `<`+pageURL(rq, p.page+1, p.per)+`>; rel="next"`)
	}
	links = append(links, `<`+pageURL(rq, 1, p.per)+`>; rel="first"`)
	if n <= maxCountLimit {
		links = append(links, `<`+pageURL(rq, max(1, totalPages), p.per)+`>; rel="last"`)
		h.Set("X-Total", strconv.Itoa(n))
		h.Set("X-Total-Pages", strconv.Itoa(max(1, totalPages)))
	}
	h.Set("Link", strings.Join(links, ", "))
	return start, end
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = "gitlab.example.com"
	}
	return scheme + "://" + host
}

func pageURL(rq *request, page, per int) string {
	v := url.Values{}
	for k, vs := range rq.q {
		v[k] = vs
	}
	v.Set("page", strconv.Itoa(page))
	v.Set("per_page", strconv.Itoa(per))
	return baseURL(rq.r) + rq.r.URL.EscapedPath() + "?" + v.Encode()
}

// ---- lookups ----

func isNum(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func (s *Server) findProject(rq *request) *Project {
	return find(rq, s.d.Projects, s.idx.projByID, s.idx.projByPath, "404 Project Not Found")
}

func (s *Server) findGroup(rq *request) *Group {
	return find(rq, s.d.Groups, s.idx.groupByID, s.idx.groupByPath, "404 Group Not Found")
}

// findPremiumGroup is findGroup for a Premium feature: a Free group
// answers 403 and gives nil.
func (s *Server) findPremiumGroup(rq *request) *Group {
	g := s.findGroup(rq)
	if g != nil && !g.Premium {
		rq.rw.message(http.StatusForbidden, "403 Forbidden")
		return nil
	}
	return g
}

// premiumProject reports whether project p's group licenses Premium
// features; if not, it answers 403.
func (s *Server) premiumProject(rq *request, p *Project) bool {
	if gi, ok := s.idx.groupByID[p.GroupID]; ok && s.d.Groups[gi].Premium {
		return true
	}
	rq.rw.message(http.StatusForbidden, "403 Forbidden")
	return false
}

func (s *Server) findUser(rq *request) *User {
	return find(rq, s.d.Users, s.idx.userByID, s.idx.userByName, "404 User Not Found")
}

// find resolves the request's second path segment, a numeric id or a
// (case-insensitive) path or username, as GitLab's routes accept both; it
// answers 404 with notFound when nothing matches.
func find[T any](rq *request, rows []T, byID map[int64]int, byName map[string]int, notFound string) *T {
	seg := rq.segs[1]
	i, ok := -1, false
	if id, num := isNum(seg); num {
		i, ok = byID[id]
	} else {
		i, ok = byName[strings.ToLower(seg)]
	}
	if !ok {
		rq.rw.message(http.StatusNotFound, notFound)
		return nil
	}
	return &rows[i]
}

func (s *Server) projectZone(pid int64) *time.Location {
	if i, ok := s.idx.projByID[pid]; ok && s.d.Projects[i].Zone != nil {
		return s.d.Projects[i].Zone
	}
	return time.UTC
}

// ---- users, projects, groups ----

func (s *Server) getCurrentUser(rq *request) {
	i := s.idx.userByID[s.d.RootUserID]
	u := s.fullUser(rq, &s.d.Users[i])
	u.IsAdmin = ptr(!s.notAdmin)
	rq.rw.json(http.StatusOK, u)
}

func (s *Server) getUser(rq *request) {
	if u := s.findUser(rq); u != nil {
		rq.rw.json(http.StatusOK, s.fullUser(rq, u))
	}
}

func (s *Server) listUsers(rq *request) {
	p, ok := parsePager(rq)
	if !ok {
		return
	}
	var us []*User
	name := strings.ToLower(rq.q.Get("username"))
	for i := range s.d.Users {
		if name == "" || strings.ToLower(s.d.Users[i].Username) == name {
			us = append(us, &s.d.Users[i])
		}
	}
	start, end := p.cut(rq, len(us))
	out := make([]jUser, 0, end-start)
	for _, u := range us[start:end] {
		out = append(out, s.user(rq, u.ID))
	}
	rq.rw.json(http.StatusOK, out)
}

func (s *Server) getProject(rq *request) {
	if p := s.findProject(rq); p != nil {
		rq.rw.json(http.StatusOK, s.project(rq, p))
	}
}

func (s *Server) getGroup(rq *request) {
	if g := s.findGroup(rq); g != nil {
		rq.rw.json(http.StatusOK, s.group(rq, g))
	}
}

func (s *Server) listGroupProjects(rq *request) {
	g := s.findGroup(rq)
	if g == nil {
		return
	}
	p, ok := parsePager(rq)
	if !ok {
		return
	}
	groups := []int64{g.ID}
	if rq.q.Get("include_subgroups") == "true" {
		groups = s.idx.descendants(g.ID)
	}
	var ps []*Project
	for i := range s.d.Projects {
		if slices.Contains(groups, s.d.Projects[i].GroupID) {
			ps = append(ps, &s.d.Projects[i])
		}
	}
	orderBy := rq.q.Get("order_by")
	if orderBy == "" {
		orderBy = "created_at"
	}
	desc := rq.q.Get("sort") != "asc"
	slices.SortStableFunc(ps, func(a, b *Project) int {
		c := 0
		switch orderBy {
		case "name", "path":
			c = strings.Compare(a.Path, b.Path)
		case "created_at":
			c = a.CreatedAt.Compare(b.CreatedAt)
		}
		if c == 0 {
			c = cmpInt(a.ID, b.ID)
		}
		if desc {
			c = -c
		}
		return c
	})
	start, end := p.cut(rq, len(ps))
	out := make([]jProject, 0, end-start)
	for _, pr := range ps[start:end] {
		out = append(out, s.project(rq, pr))
	}
	rq.rw.json(http.StatusOK, out)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- Events API ----

var eventActions = []string{"created", "updated", "closed", "reopened", "pushed", "commented", "merged", "joined", "left",
	"destroyed", "expired", "approved"}

var eventTargetTypes = map[string]string{
	"issue": "Issue", "milestone": "Milestone", "merge_request": "MergeRequest", "note": "Note", "project": "Project",
	"snippet": "Snippet", "user": "User", "wiki": "WikiPage::Meta", "design": "DesignManagement::Design",
}

// parseDay parses a Date parameter: YYYY-MM-DD, or a timestamp whose date
// part is used (as Ruby's Date.parse does).
func parseDay(v string) (time.Time, bool) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

func (s *Server) getProjectEvents(rq *request) {
	if p := s.findProject(rq); p != nil {
		s.serveEvents(rq, "p"+strconv.FormatInt(p.ID, 10), s.idx.projEvents[p.ID])
	}
}

func (s *Server) getUserEvents(rq *request) {
	if u := s.findUser(rq); u != nil {
		s.serveEvents(rq, "u"+strconv.FormatInt(u.ID, 10), s.idx.authorEvents[u.ID])
	}
}

// getCurrentUserEvents serves the token owner's events; scope=all widens
// to every event in the projects root belongs to (all of them).
func (s *Server) getCurrentUserEvents(rq *request) {
	if rq.q.Get("scope") == "all" {
		s.serveEvents(rq, "all", s.idx.allEvents)
		return
	}
	s.serveEvents(rq, "u"+strconv.FormatInt(s.d.RootUserID, 10), s.idx.authorEvents[s.d.RootUserID])
}

// serveEvents filters base (event indices in id order), sorts by id, cuts
// the page and only then drops hidden rows.
func (s *Server) serveEvents(rq *request, scope string, base []int32) {
	q := rq.q
	action, tt := q.Get("action"), q.Get("target_type")
	if action != "" && !slices.Contains(eventActions, action) {
		rq.rw.errorMsg(http.StatusBadRequest, "action does not have a valid value")
		return
	}
	targetType := ""
	if tt != "" {
		var ok bool
		if targetType, ok = eventTargetTypes[tt]; !ok {
			rq.rw.errorMsg(http.StatusBadRequest, "target_type does not have a valid value")
			return
		}
	}
	var after, before time.Time
	for _, name := range []string{"after", "before"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		day, ok := parseDay(v)
		if !ok {
			rq.rw.errorMsg(http.StatusBadRequest, name+" is invalid")
			return
		}
		if name == "after" { // created_at > end of that day
			after = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, s.loc)
		} else { // created_at < beginning of that day
			before = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, s.loc)
		}
	}
	sortDir := q.Get("sort")
	if sortDir == "" {
		sortDir = "desc"
	}
	if sortDir != "asc" && sortDir != "desc" {
		rq.rw.errorMsg(http.StatusBadRequest, "sort does not have a valid value")
		return
	}
	p, ok := parsePager(rq)
	if !ok {
		return
	}
	rows := base
	if action != "" || targetType != "" || !after.IsZero() || !before.IsZero() {
		key := scope + "|" + action + "|" + targetType + "|" + after.String() + "|" + before.String()
		rows = s.cached(key, func() []int32 {
			var out []int32
			for _, i := range base {
				e := &s.d.Events[i]
				if (action == "" || e.Action == action) && (targetType == "" || e.TargetType == targetType) &&
					(after.IsZero() || !e.CreatedAt.Before(after)) && (before.IsZero() || e.CreatedAt.Before(before)) {
					out = append(out, i)
				}
			}
			return out
		})
	}
	n := len(rows)
	start, end := p.cut(rq, n)
	out := make([]jEvent, 0, end-start)
	for k := start; k < end; k++ {
		i := k
		if sortDir == "desc" {
			i = n - 1 - k
		}
		e := &s.d.Events[rows[i]]
		if e.Hidden {
			continue
		}
		out = append(out, s.event(rq, e))
	}
	rq.rw.json(http.StatusOK, out)
}

func (s *Server) cached(key string, build func() []int32) []int32 {
	s.cacheMu.Lock()
	if v, ok := s.cache[key]; ok {
		s.cacheMu.Unlock()
		return v
	}
	s.cacheMu.Unlock()
	v := build()
	s.cacheMu.Lock()
	if len(s.cache) >= 256 {
		clear(s.cache)
	}
	s.cache[key] = v
	s.cacheMu.Unlock()
	return v
}

// ---- issues, merge requests, epics ----

// listParams are the shared filters of the issue, MR and epic listings.
type listParams struct {
	state                       string
	orderBy                     string
	desc                        bool
	updatedAfter, updatedBefore time.Time
	createdAfter, createdBefore time.Time
	authorID                    int64
	assigneeID                  int64 // assigned_to_me: root
}

// parseTimeParam parses an ISO 8601 timestamp parameter. A space where the
// zone's '+' belongs (an unencoded '+' in the query) is tolerated.
func parseTimeParam(v string) (time.Time, bool) {
	if i := strings.LastIndexByte(v, ' '); i > 0 {
		v = v[:i] + "+" + v[i+1:]
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Server) parseList(rq *request, states []string) (listParams, bool) {
	q := rq.q
	lp := listParams{state: q.Get("state"), orderBy: q.Get("order_by"), desc: q.Get("sort") != "asc"}
	if lp.state == "" {
		lp.state = "all"
	}
	if !slices.Contains(states, lp.state) {
		rq.rw.errorMsg(http.StatusBadRequest, "state does not have a valid value")
		return lp, false
	}
	if lp.orderBy == "" {
		lp.orderBy = "created_at"
	}
	if !slices.Contains([]string{"created_at", "updated_at", "id", "title"}, lp.orderBy) {
		rq.rw.errorMsg(http.StatusBadRequest, "order_by does not have a valid value")
		return lp, false
	}
	if v := q.Get("sort"); v != "" && v != "asc" && v != "desc" {
		rq.rw.errorMsg(http.StatusBadRequest, "sort does not have a valid value")
		return lp, false
	}
	for name, dst := range map[string]*time.Time{"updated_after": &lp.updatedAfter, "updated_before": &lp.updatedBefore,
		"created_after": &lp.createdAfter, "created_before": &lp.createdBefore} {
		if v := q.Get(name); v != "" {
			t, ok := parseTimeParam(v)
			if !ok {
				rq.rw.errorMsg(http.StatusBadRequest, name+" is invalid")
				return lp, false
			}
			*dst = t
		}
	}
	switch q.Get("scope") {
	case "", "all":
	case "created_by_me", "created-by-me":
		lp.authorID = s.d.RootUserID
	case "assigned_to_me", "assigned-to-me":
		lp.assigneeID = s.d.RootUserID
	default:
		rq.rw.errorMsg(http.StatusBadRequest, "scope does not have a valid value")
		return lp, false
	}
	return lp, true
}

// row is the sortable/filterable view of an issue, MR or epic.
type row struct {
	i                int32
	id               int64
	title, state     string
	author           int64
	created, updated time.Time
	assignees        []int64 // nil for epics, which have none
}

func (lp listParams) keep(r row) bool {
	switch {
	case lp.state != "all" && r.state != lp.state,
		!lp.updatedAfter.IsZero() && r.updated.Before(lp.updatedAfter),
		!lp.updatedBefore.IsZero() && r.updated.After(lp.updatedBefore),
		!lp.createdAfter.IsZero() && r.created.Before(lp.createdAfter),
		!lp.createdBefore.IsZero() && r.created.After(lp.createdBefore),
		lp.authorID != 0 && r.author != lp.authorID,
		lp.assigneeID != 0 && !slices.Contains(r.assignees, lp.assigneeID):
		return false
	}
	return true
}

func (lp listParams) sort(rows []row) {
	slices.SortFunc(rows, func(a, b row) int {
		c := 0
		switch lp.orderBy {
		case "created_at":
			c = a.created.Compare(b.created)
		case "updated_at":
			c = a.updated.Compare(b.updated)
		case "title":
			c = strings.Compare(a.title, b.title)
		}
		if c == 0 {
			c = cmpInt(a.id, b.id)
		}
		if lp.desc {
			c = -c
		}
		return c
	})
}

func (s *Server) listIssues(rq *request) {
	p := s.findProject(rq)
	if p == nil {
		return
	}
	listParents(s, rq, []string{"opened", "closed", "all"}, s.idx.projIssues[p.ID],
		func(i int32) row {
			is := &s.d.Issues[i]
			return row{i, is.ID, is.Title, is.State, is.AuthorID, is.CreatedAt, is.UpdatedAt, is.AssigneeIDs}
		},
		func(i int32) jIssue { return s.issue(rq, &s.d.Issues[i]) })
}

func (s *Server) listMRs(rq *request) {
	p := s.findProject(rq)
	if p == nil {
		return
	}
	listParents(s, rq, []string{"opened", "closed", "locked", "merged", "all"}, s.idx.projMRs[p.ID],
		func(i int32) row {
			mr := &s.d.MergeRequests[i]
			return row{i, mr.ID, mr.Title, mr.State, mr.AuthorID, mr.CreatedAt, mr.UpdatedAt, mr.AssigneeIDs}
		},
		func(i int32) jMergeRequest { return s.mergeRequest(rq, &s.d.MergeRequests[i]) })
}

// listEpics serves a group's epics and, like GitLab
// (include_descendant_groups defaults to true), its subgroups' epics.
func (s *Server) listEpics(rq *request) {
	g := s.findPremiumGroup(rq)
	if g == nil {
		return
	}
	groups := []int64{g.ID}
	if rq.q.Get("include_descendant_groups") != "false" {
		groups = s.idx.descendants(g.ID)
	}
	var idx []int32
	for _, gid := range groups {
		idx = append(idx, s.idx.groupEpics[gid]...)
	}
	listParents(s, rq, []string{"opened", "closed", "all"}, idx,
		func(i int32) row {
			ep := &s.d.Epics[i]
			return row{i, ep.ID, ep.Title, ep.State, ep.AuthorID, ep.CreatedAt, ep.UpdatedAt, nil}
		},
		func(i int32) jEpic { return s.epic(rq, &s.d.Epics[i]) })
}

// listParents serves one page of issues, merge requests or epics: those at
// positions idx that pass the listing's filters (state, updated_after, ...),
// sorted as asked, rendered by render.
func listParents[J any](s *Server, rq *request, states []string, idx []int32, rowOf func(int32) row, render func(int32) J) {
	lp, ok := s.parseList(rq, states)
	if !ok {
		return
	}
	pg, ok := parsePager(rq)
	if !ok {
		return
	}
	var rows []row
	for _, i := range idx {
		if r := rowOf(i); lp.keep(r) {
			rows = append(rows, r)
		}
	}
	lp.sort(rows)
	start, end := pg.cut(rq, len(rows))
	out := make([]J, 0, end-start)
	for _, r := range rows[start:end] {
		out = append(out, render(r.i))
	}
	rq.rw.json(http.StatusOK, out)
}

// getIssuable serves a single issue or merge request by IID.
func (s *Server) getIssuable(rq *request) {
	p := s.findProject(rq)
	if p == nil {
		return
	}
	iid, ok := isNum(rq.segs[3])
	if !ok {
		rq.rw.message(http.StatusNotFound, "404 Not found")
		return
	}
	if rq.segs[2] == "issues" {
		if i, ok := s.idx.issueByIID[[2]int64{p.ID, iid}]; ok {
			rq.rw.json(http.StatusOK, s.issue(rq, &s.d.Issues[i]))
			return
		}
	} else if i, ok := s.idx.mrByIID[[2]int64{p.ID, iid}]; ok {
		rq.rw.json(http.StatusOK, s.mergeRequest(rq, &s.d.MergeRequests[i]))
		return
	}
	rq.rw.message(http.StatusNotFound, "404 Not found")
}

// getEpic serves a single epic by IID (the Epics API addresses epics by IID;
// their resource events by global id).
func (s *Server) getEpic(rq *request) {
	g := s.findPremiumGroup(rq)
	if g == nil {
		return
	}
	iid, _ := isNum(rq.segs[3])
	for _, i := range s.idx.groupEpics[g.ID] {
		if s.d.Epics[i].IID == iid {
			rq.rw.json(http.StatusOK, s.epic(rq, &s.d.Epics[i]))
			return
		}
	}
	rq.rw.message(http.StatusNotFound, "404 Not found")
}

// ---- resource events ----

func (s *Server) getResourceEvents(rq *request) {
	fam := resourceFamilies[rq.segs[4]]
	var key pkey
	var zone *time.Location
	if rq.segs[0] == "projects" {
		p := s.findProject(rq)
		if p == nil {
			return
		}
		zone = p.Zone
		isIssue := rq.segs[2] == "issues"
		if fam == famIteration || fam == famWeight {
			if !isIssue {
				rq.rw.errorMsg(http.StatusNotFound, "404 Not Found")
				return
			}
			if !s.premiumProject(rq, p) {
				return
			}
		}
		var ok bool
		if key, ok = s.issuableKey(rq, p); !ok {
			return
		}
	} else {
		g := s.findGroup(rq)
		if g == nil {
			return
		}
		if fam != famLabel && fam != famState {
			rq.rw.errorMsg(http.StatusNotFound, "404 Not Found")
			return
		}
		if !g.Premium {
			rq.rw.message(http.StatusForbidden, "403 Forbidden")
			return
		}
		var ok bool
		if key, ok = s.epicKey(rq, g); !ok {
			return
		}
		zone = time.UTC
	}
	pg, ok := parsePager(rq)
	if !ok {
		return
	}
	rows := s.idx.res[fam][key]
	start, end := pg.cut(rq, len(rows))
	all := *s.d.fam(fam)
	out := make([]any, 0, end-start)
	for _, i := range rows[start:end] {
		e := &all[i]
		if e.Hidden {
			continue
		}
		out = append(out, s.resourceEvent(rq, fam, e, zone))
	}
	rq.rw.json(http.StatusOK, out)
}

// issuableKey finds the issue or merge request (by segs[2]) of project p
// whose IID is segs[3]; it answers 404 when there is none.
func (s *Server) issuableKey(rq *request, p *Project) (pkey, bool) {
	iid, _ := isNum(rq.segs[3])
	if rq.segs[2] == "issues" {
		if i, ok := s.idx.issueByIID[[2]int64{p.ID, iid}]; ok {
			return pkey{ptIssue, s.d.Issues[i].ID}, true
		}
	} else if i, ok := s.idx.mrByIID[[2]int64{p.ID, iid}]; ok {
		return pkey{ptMR, s.d.MergeRequests[i].ID}, true
	}
	rq.rw.message(http.StatusNotFound, "404 Not found")
	return pkey{}, false
}

// epicKey finds the epic of group g (or a subgroup) whose global id is
// segs[3], as the epic sub-routes address it; it answers 404 when there
// is none.
func (s *Server) epicKey(rq *request, g *Group) (pkey, bool) {
	id, _ := isNum(rq.segs[3])
	i, ok := s.idx.epicByID[id]
	if !ok || !slices.Contains(s.idx.descendants(g.ID), s.d.Epics[i].GroupID) {
		rq.rw.message(http.StatusNotFound, "404 Not found")
		return pkey{}, false
	}
	return pkey{ptEpic, id}, true
}

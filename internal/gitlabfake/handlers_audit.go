package gitlabfake

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Audit events (ee/lib/api/audit_events.rb and friends), as GitLab serves
// them:
//   - /projects/:id/audit_events and /groups/:id/audit_events list the
//     events whose entity is that project or group; a Free one answers
//     403. /audit_events lists them all, to administrators only (403).
//   - created_after and created_before are instants, both inclusive, to
//     the microsecond the table stores. The instance endpoint refuses a
//     span over 30 days with 400; a missing created_before is now and a
//     missing created_after 30 days before created_before (the fake's
//     model: GitLab documents the limit, not the defaults or the words).
//   - pagination=keyset pages by id, newest first: order_by=id and
//     sort=desc are the only ones accepted (anything else: 405, as for
//     every listing without that keyset order). The next page is named
//     only by Link rel="next", an absolute URL with an opaque cursor;
//     there is no x-next-page and no total. Without pagination=keyset the
//     deprecated offset pages are served, newest first.

func (s *Server) getProjectAudit(rq *request) {
	if p := s.findProject(rq); p != nil && s.premiumProject(rq, p) {
		s.serveAudit(rq, s.idx.auditOf[auditKey{"Project", p.ID}], false)
	}
}

func (s *Server) getGroupAudit(rq *request) {
	if g := s.findPremiumGroup(rq); g != nil {
		s.serveAudit(rq, s.idx.auditOf[auditKey{"Group", g.ID}], false)
	}
}

func (s *Server) getInstanceAudit(rq *request) {
	if s.notAdmin {
		rq.rw.message(http.StatusForbidden, "403 Forbidden")
		return
	}
	rows := make([]int32, len(s.d.AuditEvents))
	for i := range rows {
		rows[i] = int32(i)
	}
	if et := rq.q.Get("entity_type"); et != "" {
		id, _ := isNum(rq.q.Get("entity_id"))
		rows = slices.DeleteFunc(rows, func(i int32) bool {
			e := &s.d.AuditEvents[i]
			return e.EntityType != et || id != 0 && e.EntityID != id
		})
	}
	s.serveAudit(rq, rows, true)
}

// maxAuditSpan is the longest created_after..created_before span the
// instance endpoint answers.
const maxAuditSpan = 30 * 24 * time.Hour

// auditCursor is GitLab's keyset cursor: base64url of {"id":"N","_kd":"n"}.
type auditCursor struct {
	ID  string `json:"id"`
	Dir string `json:"_kd"`
}

// serveAudit serves one page of the audit events at base (indices in id
// order) created in the asked span.
func (s *Server) serveAudit(rq *request, base []int32, instance bool) {
	q := rq.q
	var after, before time.Time
	for name, dst := range map[string]*time.Time{"created_after": &after, "created_before": &before} {
		if v := q.Get(name); v != "" {
			t, ok := parseTimeParam(v)
			if !ok {
				rq.rw.errorMsg(http.StatusBadRequest, name+" is invalid")
				return
			}
			*dst = t
		}
	}
	if instance {
		if before.IsZero() {
			before = s.d.Now
		}
		if after.IsZero() {
			after = before.Add(-maxAuditSpan)
		}
		if before.Sub(after) > maxAuditSpan {
			rq.rw.message(http.StatusBadRequest, "400 Bad request - The date range cannot exceed 30 days")
			return
		}
	}
	var rows []int32
	for k := len(base) - 1; k >= 0; k-- { // newest first
		e := &s.d.AuditEvents[base[k]]
		if (after.IsZero() || !e.CreatedAt.Before(after)) && (before.IsZero() || !e.CreatedAt.After(before)) {
			rows = append(rows, base[k])
		}
	}
	pg, ok := parsePager(rq)
	if !ok {
		return
	}
	if q.Get("pagination") != "keyset" {
		start, end := pg.cut(rq, len(rows))
		s.renderAudit(rq, rows[start:end])
		return
	}
	if ob, so := q.Get("order_by"), q.Get("sort"); ob != "" && ob != "id" || so != "" && so != "desc" {
		rq.rw.errorMsg(http.StatusMethodNotAllowed, "Keyset pagination is not yet available for this type of request")
		return
	}
	if c := q.Get("cursor"); c != "" {
		var cur auditCursor
		raw, err := base64.URLEncoding.DecodeString(c)
		if err == nil {
			err = json.Unmarshal(raw, &cur)
		}
		id, nerr := strconv.ParseInt(cur.ID, 10, 64)
		if err != nil || nerr != nil {
			rq.rw.errorMsg(http.StatusBadRequest, "cursor is invalid")
			return
		}
		// rows run newest id first: skip to the first one below the cursor.
		k, found := slices.BinarySearchFunc(rows, id, func(i int32, id int64) int { return cmpInt(id, s.d.AuditEvents[i].ID) })
		if found {
			k++
		}
		rows = rows[k:]
	}
	page := rows[:min(pg.per, len(rows))]
	if len(page) < len(rows) {
		last := s.d.AuditEvents[page[len(page)-1]].ID
		cur, _ := json.Marshal(auditCursor{ID: strconv.FormatInt(last, 10), Dir: "n"})
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("cursor", base64.URLEncoding.EncodeToString(cur))
		rq.rw.header.Set("Link", `<`+baseURL(rq.r)+rq.r.URL.EscapedPath()+"?"+v.Encode()+`>; rel="next"`)
	}
	s.renderAudit(rq, page)
}

func (s *Server) renderAudit(rq *request, rows []int32) {
	out := make([]jAuditEvent, 0, len(rows))
	for _, i := range rows {
		out = append(out, s.auditEvent(&s.d.AuditEvents[i]))
	}
	rq.rw.json(http.StatusOK, out)
}

package gitlabfake

import (
	"net/http"
	"time"
)

// getNotes serves the notes of an issue, a merge request
// (/projects/:id/{issues,merge_requests}/:iid/notes) or an epic
// (/groups/:id/epics/:epic_id/notes, Premium: 403 on a Free group), as
// lib/api/notes.rb does: sort asc|desc (default desc) by order_by
// created_at|updated_at (default created_at; notes here are never edited,
// so both orders agree), offset pages, and hidden rows (cross-references
// the token may not see) dropped after the page is cut.
func (s *Server) getNotes(rq *request) {
	var key pkey
	var ok bool
	zone := time.UTC
	if rq.segs[0] == "projects" {
		p := s.findProject(rq)
		if p == nil {
			return
		}
		if p.Zone != nil {
			zone = p.Zone
		}
		if key, ok = s.issuableKey(rq, p); !ok {
			return
		}
	} else {
		g := s.findPremiumGroup(rq)
		if g == nil {
			return
		}
		if key, ok = s.epicKey(rq, g); !ok {
			return
		}
	}
	if v := rq.q.Get("order_by"); v != "" && v != "created_at" && v != "updated_at" {
		rq.rw.errorMsg(http.StatusBadRequest, "order_by does not have a valid value")
		return
	}
	desc := true
	switch rq.q.Get("sort") {
	case "", "desc":
	case "asc":
		desc = false
	default:
		rq.rw.errorMsg(http.StatusBadRequest, "sort does not have a valid value")
		return
	}
	pg, pok := parsePager(rq)
	if !pok {
		return
	}
	rows := s.idx.notes[key]
	n := len(rows)
	start, end := pg.cut(rq, n)
	out := make([]*jNote, 0, end-start)
	for k := start; k < end; k++ {
		i := k
		if desc {
			i = n - 1 - k
		}
		nt := &s.d.Notes[rows[i]]
		if nt.Hidden {
			continue
		}
		out = append(out, s.parentNote(rq, nt, zone))
	}
	rq.rw.json(http.StatusOK, out)
}

// parentNote renders a note of a notes listing (GitLab's Note entity).
func (s *Server) parentNote(rq *request, n *ParentNote, zone *time.Location) *jNote {
	return &jNote{ID: n.ID, Body: n.Body, Author: s.user(rq, n.AuthorID), CreatedAt: ts(n.CreatedAt, zone),
		UpdatedAt: ts(n.CreatedAt, zone), System: n.System, NoteableID: n.ParentID, NoteableType: n.ParentType,
		ProjectID: n.ProjectID, Confidential: n.Internal, Internal: n.Internal, ImportedFrom: "none", NoteableIID: n.ParentIID}
}

package gitlabfake

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// index holds the lookups the handlers need; it is rebuilt whenever the
// data changes (generation and AddActivity), so requests never scan.
type index struct {
	userByID    map[int64]int
	userByName  map[string]int
	avatar      map[int64]string
	groupByID   map[int64]int
	groupByPath map[string]int
	children    map[int64][]int64
	projByID    map[int64]int
	projByPath  map[string]int

	allEvents    []int32
	projEvents   map[int64][]int32
	authorEvents map[int64][]int32

	projIssues map[int64][]int32
	issueByIID map[[2]int64]int32
	projMRs    map[int64][]int32
	mrByIID    map[[2]int64]int32
	groupEpics map[int64][]int32
	epicByID   map[int64]int32

	res [numFams]map[pkey][]int32

	// notes lists each parent's notes in (created_at, id) order.
	notes map[pkey][]int32

	// auditOf lists the audit events of each project ("Project", id) and
	// group ("Group", id), in id order.
	auditOf map[auditKey][]int32

	labelByID     map[int64]int32
	milestoneByID map[int64]int32
	iterationByID map[int64]int32

	current map[pkey]Current // what parents' resource events leave them with
}

func buildIndex(d *Data) *index {
	x := &index{
		userByID: map[int64]int{}, userByName: map[string]int{}, avatar: map[int64]string{},
		groupByID: map[int64]int{}, groupByPath: map[string]int{}, children: map[int64][]int64{},
		projByID: map[int64]int{}, projByPath: map[string]int{},
		projEvents: map[int64][]int32{}, authorEvents: map[int64][]int32{},
		projIssues: map[int64][]int32{}, issueByIID: map[[2]int64]int32{},
		projMRs: map[int64][]int32{}, mrByIID: map[[2]int64]int32{},
		groupEpics: map[int64][]int32{}, epicByID: map[int64]int32{},
		labelByID: map[int64]int32{}, milestoneByID: map[int64]int32{}, iterationByID: map[int64]int32{},
		auditOf: map[auditKey][]int32{},
	}
	for i, u := range d.Users {
		x.userByID[u.ID] = i
		x.userByName[strings.ToLower(u.Username)] = i
		h := fnv.New64a()
		h.Write([]byte(u.Username))
		x.avatar[u.ID] = "https://www.gravatar.com/avatar/" + strconv.FormatUint(h.Sum64(), 16) + "?s=80&d=identicon"
	}
	for i, g := range d.Groups {
		x.groupByID[g.ID] = i
		x.groupByPath[strings.ToLower(g.FullPath)] = i
		if g.ParentID != 0 {
			x.children[g.ParentID] = append(x.children[g.ParentID], g.ID)
		}
	}
	for i, p := range d.Projects {
		x.projByID[p.ID] = i
		x.projByPath[strings.ToLower(p.PathWithNamespace)] = i
	}
	x.allEvents = make([]int32, len(d.Events))
	for i := range d.Events {
		e := &d.Events[i]
		x.allEvents[i] = int32(i)
		x.projEvents[e.ProjectID] = append(x.projEvents[e.ProjectID], int32(i))
		x.authorEvents[e.AuthorID] = append(x.authorEvents[e.AuthorID], int32(i))
	}
	for i, is := range d.Issues {
		x.projIssues[is.ProjectID] = append(x.projIssues[is.ProjectID], int32(i))
		x.issueByIID[[2]int64{is.ProjectID, is.IID}] = int32(i)
	}
	for i, mr := range d.MergeRequests {
		x.projMRs[mr.ProjectID] = append(x.projMRs[mr.ProjectID], int32(i))
		x.mrByIID[[2]int64{mr.ProjectID, mr.IID}] = int32(i)
	}
	for i, ep := range d.Epics {
		x.groupEpics[ep.GroupID] = append(x.groupEpics[ep.GroupID], int32(i))
		x.epicByID[ep.ID] = int32(i)
	}
	for f := range numFams {
		m := map[pkey][]int32{}
		for i, e := range *d.fam(f) {
			k := pkey{typOf(e.ParentType), e.ParentID}
			m[k] = append(m[k], int32(i))
		}
		x.res[f] = m
	}
	x.notes = map[pkey][]int32{}
	for _, i := range orderByTime(len(d.Notes), func(i int) time.Time { return d.Notes[i].CreatedAt }) {
		n := &d.Notes[i]
		k := pkey{typOf(n.ParentType), n.ParentID}
		x.notes[k] = append(x.notes[k], i)
	}
	for i, e := range d.AuditEvents {
		k := auditKey{e.EntityType, e.EntityID}
		x.auditOf[k] = append(x.auditOf[k], int32(i))
	}
	for i, l := range d.Labels {
		x.labelByID[l.ID] = int32(i)
	}
	for i, m := range d.Milestones {
		x.milestoneByID[m.ID] = int32(i)
	}
	for i, it := range d.Iterations {
		x.iterationByID[it.ID] = int32(i)
	}
	x.current = d.current()
	return x
}

type auditKey struct {
	entityType string
	entityID   int64
}

// descendants returns gid and all groups below it.
func (x *index) descendants(gid int64) []int64 {
	out := []int64{gid}
	for i := 0; i < len(out); i++ {
		out = append(out, x.children[out[i]]...)
	}
	return out
}

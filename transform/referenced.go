package transform

import (
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// TableRecord is a record of the rows of Table; its schema is Table.Schema.
type TableRecord struct {
	Table schemas.Table
	Rec   arrow.RecordBatch
}

// Referenced collects the users, labels, milestones and iterations that fact rows
// reference (latest seen wins, by id), so the orchestrator can upsert them
// into the dimension tables in the same run. Null objects are not collected.
// Referenced keeps copies: the entities passed in may be reused afterwards.
//
// A nil *Referenced is allowed everywhere: it collects nothing, its Len is 0 and
// its Records are none. Not safe for concurrent use.
type Referenced struct {
	users      map[int64]extract.User
	labels     map[int64]extract.Label
	milestones map[int64]extract.Milestone
	iterations map[int64]extract.Iteration
}

// NewReferenced returns an empty Referenced.
func NewReferenced() *Referenced {
	return &Referenced{
		users:      make(map[int64]extract.User),
		labels:     make(map[int64]extract.Label),
		milestones: make(map[int64]extract.Milestone),
		iterations: make(map[int64]extract.Iteration),
	}
}

// Len returns the number of distinct entities collected, all dimensions
// together.
func (r *Referenced) Len() int {
	if r == nil {
		return 0
	}
	return len(r.users) + len(r.labels) + len(r.milestones) + len(r.iterations)
}

// Reset forgets everything collected.
func (r *Referenced) Reset() {
	if r == nil {
		return
	}
	clear(r.users)
	clear(r.labels)
	clear(r.milestones)
	clear(r.iterations)
}

// AddUser collects u (nil is ignored).
func (r *Referenced) AddUser(u *extract.User) {
	if r == nil || u == nil {
		return
	}
	if r.users == nil {
		r.users = make(map[int64]extract.User)
	}
	c := *u
	c.AvatarURL, c.WebURL, c.Locked = clonePtr(u.AvatarURL), clonePtr(u.WebURL), clonePtr(u.Locked)
	r.users[u.ID] = c
}

// EachUser calls fn with the id and username of every user collected.
func (r *Referenced) EachUser(fn func(id int64, username string)) {
	if r == nil {
		return
	}
	for id, u := range r.users {
		fn(id, u.Username)
	}
}

// AddLabel collects l (nil is ignored).
func (r *Referenced) AddLabel(l *extract.Label) {
	if r == nil || l == nil {
		return
	}
	if r.labels == nil {
		r.labels = make(map[int64]extract.Label)
	}
	if old, ok := r.labels[l.ID]; ok && old.Name == l.Name && old.Color == l.Color && eqPtr(old.Description, l.Description) &&
		eqPtr(old.TextColor, l.TextColor) && eqPtr(old.Archived, l.Archived) {
		return // unchanged: spare the copy
	}
	c := *l
	c.Description, c.TextColor, c.Archived = clonePtr(l.Description), clonePtr(l.TextColor), clonePtr(l.Archived)
	r.labels[l.ID] = c
}

// AddMilestone collects m (nil is ignored).
func (r *Referenced) AddMilestone(m *extract.Milestone) {
	if r == nil || m == nil {
		return
	}
	if r.milestones == nil {
		r.milestones = make(map[int64]extract.Milestone)
	}
	if old, ok := r.milestones[m.ID]; ok && old.Title == m.Title && old.State == m.State && eqPtr(old.WebURL, m.WebURL) &&
		eqPtr(old.IID, m.IID) && eqPtr(old.ProjectID, m.ProjectID) && eqPtr(old.GroupID, m.GroupID) &&
		eqDate(old.DueDate, m.DueDate) && eqDate(old.StartDate, m.StartDate) &&
		eqPtr(old.Description, m.Description) && eqPtr(old.Expired, m.Expired) {
		return
	}
	c := *m
	c.IID, c.ProjectID, c.GroupID, c.WebURL = clonePtr(m.IID), clonePtr(m.ProjectID), clonePtr(m.GroupID), clonePtr(m.WebURL)
	c.Description, c.Expired = clonePtr(m.Description), clonePtr(m.Expired)
	c.DueDate, c.StartDate = clonePtr(m.DueDate), clonePtr(m.StartDate)
	r.milestones[m.ID] = c
}

// AddIteration collects it (nil is ignored).
func (r *Referenced) AddIteration(it *extract.Iteration) {
	if r == nil || it == nil {
		return
	}
	if r.iterations == nil {
		r.iterations = make(map[int64]extract.Iteration)
	}
	if old, ok := r.iterations[it.ID]; ok && old.State == it.State && eqPtr(old.WebURL, it.WebURL) &&
		eqPtr(old.IID, it.IID) && eqPtr(old.GroupID, it.GroupID) && eqPtr(old.Title, it.Title) &&
		eqDate(old.StartDate, it.StartDate) && eqDate(old.DueDate, it.DueDate) {
		return
	}
	c := *it
	c.IID, c.GroupID, c.Title, c.WebURL = clonePtr(it.IID), clonePtr(it.GroupID), clonePtr(it.Title), clonePtr(it.WebURL)
	c.StartDate, c.DueDate = clonePtr(it.StartDate), clonePtr(it.DueDate)
	r.iterations[it.ID] = c
}

// Records returns one record per non-empty dimension, in the order users,
// labels, milestones, iterations, each with the schema of schemas.Users,
// Labels, Milestones or Iterations and its rows sorted by id. The caller
// releases the records. Records does not reset r.
func (r *Referenced) Records(mem memory.Allocator, m Meta) []TableRecord {
	if r == nil {
		return nil
	}
	var out []TableRecord
	out = appendDim(out, mem, m, schemas.Users, r.users, AppendUser)
	out = appendDim(out, mem, m, schemas.Labels, r.labels, AppendLabel)
	out = appendDim(out, mem, m, schemas.Milestones, r.milestones, AppendMilestone)
	out = appendDim(out, mem, m, schemas.Iterations, r.iterations, AppendIteration)
	return out
}

func appendDim[T any](out []TableRecord, mem memory.Allocator, m Meta, t schemas.Table,
	byID map[int64]T, appendRow func(*Builder, *T)) []TableRecord {
	if len(byID) == 0 {
		return out
	}
	b := NewBuilder(mem, t, m)
	defer b.Release()
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		v := byID[id]
		appendRow(b, &v)
	}
	return append(out, TableRecord{Table: t, Rec: b.NewRecord()})
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func eqPtr[T comparable](a, b *T) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}

func eqDate(a, b *extract.Date) bool {
	return a == b || (a != nil && b != nil && a.Time.Equal(b.Time) && a.Location() == b.Location())
}

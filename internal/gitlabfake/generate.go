package gitlabfake

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BaseTime is the instance time of a freshly generated instance: the
// history ends here, so the data never depends on the wall clock.
var BaseTime = time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC)

// HistoryDays is how many days of history a fresh instance holds.
const HistoryDays = 120

// Fixed ids of the instance topology, so tests can name them.
const (
	RootID        int64 = 1   // root, the token owner
	GhostID       int64 = 2   // the Ghost User
	AcmeID        int64 = 10  // group acme (Premium)
	PlatformID    int64 = 11  // group acme/platform (Premium through acme)
	FreeOrgID     int64 = 20  // group freeorg (Free)
	APIProjectID  int64 = 101 // acme/api
	DBProjectID   int64 = 102 // acme/platform/db
	BigProjectID  int64 = 103 // acme/platform/big
	ToolProjectID int64 = 104 // freeorg/tool, rendered with a +02:00 offset
)

// BusyIssueIID is the IID (in acme/api) of an issue with many label
// events, some of them hidden, so its resource label events span several
// pages and some pages come back short.
const BusyIssueIID int64 = 1

const (
	firstIssueID = 1001 // issues and merge requests are separate tables: their ids overlap
	firstMRID    = 1001
	firstEpicID  = 501
)

// plus2 is freeorg/tool's render zone.
var plus2 = time.FixedZone("+02:00", 2*3600)

var usernames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
	"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "uma", "victor", "walter"}

var (
	verbs = []string{"Fix", "Add", "Improve", "Refactor", "Remove", "Document", "Speed up", "Investigate", "Migrate", "Harden"}
	nouns = []string{"login flow", "export job", "rate limiter", "cache layer", "search index", "billing report",
		"webhook retries", "CI pipeline", "audit log", "user settings", "API pagination", "dark mode", "backup script",
		"release notes", "error pages"}
	noteBodies = []string{"LGTM", "Can you add a test for this?", "I think this breaks the export.", "Fixed in the latest push.",
		"Let's discuss this on Monday.", "+1", "Needs a rebase.", "Reproduced on main.", "Closing as duplicate?",
		"Thanks for the quick fix!"}
	wikiTitles = []string{"Home", "Getting Started", "Architecture", "Runbook", "FAQ"}
	weights    = []int64{1, 2, 3, 5, 8}
)

type noteRef struct {
	t     time.Time
	typ   string
	id    int64
	iid   int64
	title string
}

// pstate is the mutable state of a parent while its resource events are generated.
type pstate struct {
	typ       string
	id, iid   int64
	projectID int64
	groupID   int64
	title     string
	premium   bool
	state     string
	labels    []int64
	milestone int64
	iteration int64
	closedAt  *time.Time
	mergedAt  *time.Time
}

// gen generates rows into d. It is used for the initial instance and for AddActivity.
type gen struct {
	r     *rand.Rand
	d     *Data
	sc    Scale
	first time.Time // start of history
	start time.Time // new rows are created after this
	now   time.Time // ... and before this

	regular []int64
	alice   int64

	groupByID    map[int64]*Group
	premiumProj  map[int64]bool
	projLabels   map[int64][]int64
	groupLabels  map[int64][]int64
	projMiles    map[int64][]int64
	projIters    map[int64][]int64
	noteables    map[int64][]noteRef
	mrsOf        map[int64][]noteRef
	wikiMetaBase map[int64]int64
	anchors      map[int64][]Event
	fams         [numFams][]ResourceEvent
	busyIssueID  int64
}

func newRand(a, b int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(a)^0x6a09e667f3bcc908, uint64(b)^0xbb67ae8584caa73b))
}

func newGen(r *rand.Rand, sc Scale, d *Data) *gen {
	return &gen{r: r, d: d, sc: sc, first: BaseTime.AddDate(0, 0, -HistoryDays), anchors: map[int64][]Event{}}
}

// generate builds a fresh instance from seed.
func generate(seed int64, sc Scale) *Data {
	d := &Data{Now: BaseTime, RootUserID: RootID}
	g := newGen(newRand(seed, 1), sc, d)
	g.start, g.now = g.first, BaseTime
	g.genTopology()
	g.buildLookups()
	g.genParents()
	g.buildParentLookups()
	g.genInitialResourceEvents()
	g.flushResources()
	g.markBusyHidden()
	g.genInitialEvents()
	g.computeUpdated()
	return d
}

// ---- small helpers ----

func (g *gen) between(lo, hi time.Time) time.Time {
	span := hi.Sub(lo).Milliseconds()
	if span <= 0 {
		return lo
	}
	return lo.Add(time.Duration(g.r.Int64N(span)) * time.Millisecond)
}

// eventTime is a time in [lo, hi) biased towards working hours (UTC).
func (g *gen) eventTime(lo, hi time.Time) time.Time {
	t := g.between(lo, hi)
	if g.r.IntN(2) == 0 {
		day := t.Truncate(24 * time.Hour)
		w := day.Add(8*time.Hour + time.Duration(g.r.Int64N(10*3600*1000))*time.Millisecond)
		if !w.Before(lo) && w.Before(hi) {
			t = w
		}
	}
	return t
}

func (g *gen) sha() string {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], g.r.Uint64())
	binary.LittleEndian.PutUint64(b[8:], g.r.Uint64())
	binary.LittleEndian.PutUint64(b[16:], g.r.Uint64())
	return hex.EncodeToString(b[:20])
}

func (g *gen) title() string {
	return verbs[g.r.IntN(len(verbs))] + " " + nouns[g.r.IntN(len(nouns))]
}

func (g *gen) pickAuthor() int64 {
	x := g.r.IntN(100)
	switch {
	case x < 18:
		return RootID
	case x < 36 && g.alice != 0:
		return g.alice
	case x < 38:
		return GhostID
	}
	if len(g.regular) == 0 {
		return RootID
	}
	return g.regular[g.r.IntN(len(g.regular))]
}

// pickActor is the user of a resource event: sometimes null on old rows, sometimes the ghost.
func (g *gen) pickActor(t time.Time) int64 {
	if t.Before(g.first.AddDate(0, 0, 30)) && g.r.IntN(100) < 10 {
		return 0
	}
	if g.r.IntN(100) < 3 {
		return GhostID
	}
	return g.pickAuthor()
}

func ptrTime(t time.Time) *time.Time { return &t }

func date(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func cmpTime(a, b time.Time) int { return a.Compare(b) }

// orderByTime returns the indices 0..n-1 ordered by at(i), ties by index
// (a stable sort). It packs the millisecond offset and the index into one
// integer, which sorts far faster than a comparator over structs.
func orderByTime(n int, at func(i int) time.Time) []int32 {
	order := make([]int32, n)
	if n == 0 {
		return order
	}
	lo := at(0).UnixMilli()
	for i := range n {
		lo = min(lo, at(i).UnixMilli())
	}
	const idxBits = 24
	keys := make([]uint64, n)
	packed := n < 1<<idxBits
	for i := range n {
		off := uint64(at(i).UnixMilli() - lo)
		if off >= 1<<(64-idxBits) {
			packed = false
		}
		keys[i] = off<<idxBits | uint64(i)
	}
	if !packed {
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortStableFunc(order, func(a, b int32) int { return at(int(a)).Compare(at(int(b))) })
		return order
	}
	slices.Sort(keys)
	for i, k := range keys {
		order[i] = int32(k & (1<<idxBits - 1))
	}
	return order
}

// ---- topology ----

func (g *gen) genTopology() {
	d := g.d
	d.Users = append(d.Users,
		User{ID: RootID, Username: "root", Name: "Administrator", State: "active", CreatedAt: g.first.AddDate(-3, 0, 0)},
		User{ID: GhostID, Username: "ghost", Name: "Ghost User", State: "active", CreatedAt: g.first.AddDate(-3, 0, 0)},
	)
	for i := range g.sc.Users {
		name := "user" + strconv.Itoa(i+1)
		if i < len(usernames) {
			name = usernames[i]
		}
		state := "active"
		if i == 3 {
			state = "blocked"
		}
		d.Users = append(d.Users, User{ID: int64(3 + i), Username: name, Name: strings.ToUpper(name[:1]) + name[1:] + " Example",
			State: state, CreatedAt: g.first.AddDate(-1, 0, i)})
	}
	gc := g.first.AddDate(-2, 0, 0)
	d.Groups = []Group{
		{ID: AcmeID, Path: "acme", Name: "Acme", FullPath: "acme", Premium: true, CreatedAt: gc},
		{ID: PlatformID, ParentID: AcmeID, Path: "platform", Name: "Platform", FullPath: "acme/platform", Premium: true, CreatedAt: gc.Add(time.Hour)},
		{ID: FreeOrgID, Path: "freeorg", Name: "FreeOrg", FullPath: "freeorg", CreatedAt: gc.Add(2 * time.Hour)},
	}
	d.Projects = []Project{
		{ID: APIProjectID, GroupID: AcmeID, Path: "api", Name: "api", PathWithNamespace: "acme/api", Zone: time.UTC, CreatedAt: gc.AddDate(0, 1, 0)},
		{ID: DBProjectID, GroupID: PlatformID, Path: "db", Name: "db", PathWithNamespace: "acme/platform/db", Zone: time.UTC, CreatedAt: gc.AddDate(0, 2, 0)},
		{ID: BigProjectID, GroupID: PlatformID, Path: "big", Name: "big", PathWithNamespace: "acme/platform/big", Zone: time.UTC, Big: true, CreatedAt: gc.AddDate(0, 3, 0)},
		{ID: ToolProjectID, GroupID: FreeOrgID, Path: "tool", Name: "tool", PathWithNamespace: "freeorg/tool", Zone: plus2, CreatedAt: gc.AddDate(0, 4, 0)},
	}

	// Labels.
	addLabel := func(pid, gid int64, name, color, desc string) {
		d.Labels = append(d.Labels, Label{ID: int64(len(d.Labels) + 1), ProjectID: pid, GroupID: gid, Name: name, Color: color, Description: desc})
	}
	addLabel(0, AcmeID, "priority::high", "#d9534f", "Fix first")
	addLabel(0, AcmeID, "priority::low", "#5cb85c", "")
	addLabel(0, AcmeID, "team::backend", "#428bca", "")
	addLabel(0, AcmeID, "team::frontend", "#8e44ad", "")
	addLabel(0, PlatformID, "component::storage", "#f0ad4e", "Storage layer")
	addLabel(0, FreeOrgID, "needs-triage", "#cccccc", "")
	for _, p := range d.Projects {
		addLabel(p.ID, 0, "bug", "#d9534f", "Something is broken")
		addLabel(p.ID, 0, "feature", "#5cb85c", "")
		addLabel(p.ID, 0, "documentation", "#428bca", "")
		addLabel(p.ID, 0, "security", "#000000", "Security relevant")
	}

	// Milestones: project milestones, then group milestones; some dates null.
	addMile := func(pid, gid, iid int64, title, state string, start, due *time.Time) {
		d.Milestones = append(d.Milestones, Milestone{ID: int64(len(d.Milestones) + 1), IID: iid, ProjectID: pid, GroupID: gid,
			Title: title, Description: "", State: state, CreatedAt: g.first.AddDate(0, 0, -10), UpdatedAt: g.first.AddDate(0, 0, -10),
			StartDate: start, DueDate: due})
	}
	f := date(g.first)
	for _, p := range d.Projects {
		addMile(p.ID, 0, 1, "v1.0", "closed", ptrTime(f), ptrTime(f.AddDate(0, 0, 30)))
		addMile(p.ID, 0, 2, "v1.1", "active", nil, ptrTime(f.AddDate(0, 0, 90)))
		addMile(p.ID, 0, 3, "v2.0", "active", nil, nil)
	}
	addMile(0, AcmeID, 1, "2026 Q3", "closed", ptrTime(f.AddDate(0, 0, -20)), ptrTime(f.AddDate(0, 0, 70)))
	addMile(0, AcmeID, 2, "2026 Q4", "active", ptrTime(f.AddDate(0, 0, 71)), nil)
	addMile(0, FreeOrgID, 1, "Backlog", "active", nil, nil)

	// Iterations of acme: two-week cadence over the history and a bit beyond.
	for k := range 10 {
		st := f.AddDate(0, 0, 14*k)
		due := st.AddDate(0, 0, 13)
		state := 1
		switch {
		case due.Add(24 * time.Hour).Before(BaseTime):
			state = 3
		case !st.After(BaseTime):
			state = 2
		}
		title := ""
		if k%2 == 0 {
			title = "Sprint " + strconv.Itoa(k+1)
		}
		d.Iterations = append(d.Iterations, Iteration{ID: int64(k + 1), IID: int64(k + 1), GroupID: AcmeID, Title: title, State: state,
			StartDate: st, DueDate: due, CreatedAt: g.first.AddDate(0, 0, -14), UpdatedAt: g.first.AddDate(0, 0, -14)})
	}
}

func (g *gen) ancestors(gid int64) []int64 {
	var out []int64
	for gid != 0 {
		out = append(out, gid)
		gr := g.groupByID[gid]
		if gr == nil {
			break
		}
		gid = gr.ParentID
	}
	return out
}

// buildLookups derives per-project label/milestone/iteration sets from d.
func (g *gen) buildLookups() {
	d := g.d
	g.regular = g.regular[:0]
	for _, u := range d.Users {
		if u.ID != RootID && u.ID != GhostID {
			g.regular = append(g.regular, u.ID)
		}
		if u.Username == "alice" {
			g.alice = u.ID
		}
	}
	g.groupByID = map[int64]*Group{}
	for i := range d.Groups {
		g.groupByID[d.Groups[i].ID] = &d.Groups[i]
	}
	g.premiumProj = map[int64]bool{}
	g.projLabels = map[int64][]int64{}
	g.groupLabels = map[int64][]int64{}
	g.projMiles = map[int64][]int64{}
	g.projIters = map[int64][]int64{}
	g.wikiMetaBase = map[int64]int64{}
	for _, gr := range d.Groups {
		anc := g.ancestors(gr.ID)
		for _, l := range d.Labels {
			if l.GroupID != 0 && slices.Contains(anc, l.GroupID) {
				g.groupLabels[gr.ID] = append(g.groupLabels[gr.ID], l.ID)
			}
		}
	}
	for pi, p := range d.Projects {
		anc := g.ancestors(p.GroupID)
		g.premiumProj[p.ID] = g.groupByID[p.GroupID] != nil && g.groupByID[p.GroupID].Premium
		for _, l := range d.Labels {
			if l.ProjectID == p.ID || (l.GroupID != 0 && slices.Contains(anc, l.GroupID)) {
				g.projLabels[p.ID] = append(g.projLabels[p.ID], l.ID)
			}
		}
		for _, m := range d.Milestones {
			if m.ProjectID == p.ID || (m.GroupID != 0 && slices.Contains(anc, m.GroupID)) {
				g.projMiles[p.ID] = append(g.projMiles[p.ID], m.ID)
			}
		}
		for _, it := range d.Iterations {
			if slices.Contains(anc, it.GroupID) {
				g.projIters[p.ID] = append(g.projIters[p.ID], it.ID)
			}
		}
		g.wikiMetaBase[p.ID] = int64(pi*10 + 1)
	}
}

// buildParentLookups indexes issues and MRs by project in created order (for comments and closing MRs).
func (g *gen) buildParentLookups() {
	d := g.d
	g.noteables = map[int64][]noteRef{}
	g.mrsOf = map[int64][]noteRef{}
	for _, is := range d.Issues {
		g.noteables[is.ProjectID] = append(g.noteables[is.ProjectID], noteRef{is.CreatedAt, "Issue", is.ID, is.IID, is.Title})
	}
	for _, mr := range d.MergeRequests {
		ref := noteRef{mr.CreatedAt, "MergeRequest", mr.ID, mr.IID, mr.Title}
		g.noteables[mr.ProjectID] = append(g.noteables[mr.ProjectID], ref)
		g.mrsOf[mr.ProjectID] = append(g.mrsOf[mr.ProjectID], ref)
	}
	for _, m := range []map[int64][]noteRef{g.noteables, g.mrsOf} {
		for _, refs := range m {
			slices.SortStableFunc(refs, func(a, b noteRef) int { return a.t.Compare(b.t) })
		}
	}
	for _, is := range d.Issues {
		if is.ProjectID == APIProjectID && is.IID == BusyIssueIID {
			g.busyIssueID = is.ID
		}
	}
}

// ---- issues, merge requests, epics ----

func (g *gen) genParents() {
	d := g.d
	hi := g.now.Add(-2 * time.Hour)
	for _, p := range d.Projects {
		n := g.sc.IssuesPerProject
		ts := make([]time.Time, n)
		for i := range ts {
			ts[i] = g.between(g.first, hi)
		}
		slices.SortFunc(ts, cmpTime)
		for i, t := range ts {
			d.Issues = append(d.Issues, Issue{IID: int64(i + 1), ProjectID: p.ID, AuthorID: g.pickAuthor(), Title: g.title(), State: "opened", CreatedAt: t})
		}
		n = g.sc.MRsPerProject
		ts = make([]time.Time, n)
		for i := range ts {
			ts[i] = g.between(g.first, hi)
		}
		slices.SortFunc(ts, cmpTime)
		for i, t := range ts {
			d.MergeRequests = append(d.MergeRequests, MergeRequest{IID: int64(i + 1), ProjectID: p.ID, AuthorID: g.pickAuthor(), Title: g.title(),
				State: "opened", SourceBranch: "feature/" + strconv.Itoa(i+1), CreatedAt: t})
		}
	}
	for _, gr := range d.Groups {
		if !gr.Premium {
			continue
		}
		n := g.sc.EpicsPerGroup
		ts := make([]time.Time, n)
		for i := range ts {
			ts[i] = g.between(g.first, hi)
		}
		slices.SortFunc(ts, cmpTime)
		for i, t := range ts {
			d.Epics = append(d.Epics, Epic{IID: int64(i + 1), GroupID: gr.ID, AuthorID: g.pickAuthor(), Title: "Epic: " + g.title(), State: "opened", CreatedAt: t})
		}
	}
	// Global ids follow creation order across projects (one table each).
	slices.SortStableFunc(d.Issues, func(a, b Issue) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for i := range d.Issues {
		d.Issues[i].ID = firstIssueID + int64(i)
		d.Issues[i].UpdatedAt = d.Issues[i].CreatedAt
	}
	slices.SortStableFunc(d.MergeRequests, func(a, b MergeRequest) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for i := range d.MergeRequests {
		d.MergeRequests[i].ID = firstMRID + int64(i)
		d.MergeRequests[i].UpdatedAt = d.MergeRequests[i].CreatedAt
	}
	slices.SortStableFunc(d.Epics, func(a, b Epic) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for i := range d.Epics {
		d.Epics[i].ID = firstEpicID + int64(i)
		d.Epics[i].UpdatedAt = d.Epics[i].CreatedAt
	}
}

// ---- resource events ----

// timeline returns k sorted times in (lo, hi), with some rapid edits and
// some simultaneous ones (two labels added in one action).
func (g *gen) timeline(lo, hi time.Time, k int) []time.Time {
	lo = lo.Add(time.Second)
	if k <= 0 || !hi.After(lo) {
		return nil
	}
	ts := make([]time.Time, k)
	for i := range ts {
		ts[i] = g.between(lo, hi)
	}
	slices.SortFunc(ts, cmpTime)
	for i := 1; i < k; i++ {
		x := g.r.IntN(100)
		if x < 7 {
			ts[i] = ts[i-1]
		} else if x < 15 {
			c := ts[i-1].Add(time.Duration(500+g.r.IntN(4000)) * time.Millisecond)
			if c.Before(ts[i]) {
				ts[i] = c
			}
		}
	}
	return ts
}

func (g *gen) eventCount() int {
	a := g.sc.ResourceEventsPerParent
	if a <= 0 {
		return 0
	}
	return g.r.IntN(2*a + 1)
}

func (g *gen) pickFam(ps *pstate) int {
	x := g.r.IntN(100)
	switch ps.typ {
	case "Issue":
		if ps.premium {
			switch {
			case x < 45:
				return famLabel
			case x < 65:
				return famState
			case x < 80:
				return famMilestone
			case x < 90:
				return famIteration
			}
			return famWeight
		}
		switch {
		case x < 55:
			return famLabel
		case x < 80:
			return famState
		}
		return famMilestone
	case "MergeRequest":
		switch {
		case x < 50:
			return famLabel
		case x < 75:
			return famState
		}
		return famMilestone
	}
	if x < 65 {
		return famLabel
	}
	return famState
}

func (g *gen) availLabels(ps *pstate) []int64 {
	if ps.typ == "Epic" {
		return g.groupLabels[ps.groupID]
	}
	return g.projLabels[ps.projectID]
}

// addEvent generates one resource event of family fam (falling back to a
// label event when fam does not apply) and records it.
func (g *gen) addEvent(ps *pstate, fam int, t time.Time) (int, bool) {
	ev, ok := g.resEvent(ps, fam, t)
	if !ok {
		fam = famLabel
		ev, ok = g.resEvent(ps, fam, t)
		if !ok {
			return 0, false
		}
	}
	g.fams[fam] = append(g.fams[fam], ev)
	return fam, true
}

func (g *gen) resEvent(ps *pstate, fam int, t time.Time) (ResourceEvent, bool) {
	ev := ResourceEvent{ParentType: ps.typ, ParentID: ps.id, ParentIID: ps.iid, ProjectID: ps.projectID, GroupID: ps.groupID,
		CreatedAt: t, UserID: g.pickActor(t)}
	switch fam {
	case famLabel:
		avail := g.availLabels(ps)
		if len(avail) == 0 {
			return ev, false
		}
		notOn := func() int64 {
			var c []int64
			for _, l := range avail {
				if !slices.Contains(ps.labels, l) {
					c = append(c, l)
				}
			}
			if len(c) == 0 {
				return 0
			}
			return c[g.r.IntN(len(c))]
		}
		x := g.r.IntN(100)
		switch {
		case x < 4: // the label has since been deleted
			ev.Action = "add"
			if len(ps.labels) > 0 && g.r.IntN(2) == 0 {
				ev.Action = "remove"
			}
		case x < 7 && len(ps.labels) > 0: // duplicate add
			ev.Action, ev.LabelID = "add", ps.labels[g.r.IntN(len(ps.labels))]
		case x < 9 && notOn() != 0: // remove without a prior add
			ev.Action, ev.LabelID = "remove", notOn()
		case x < 45 && len(ps.labels) > 0:
			i := g.r.IntN(len(ps.labels))
			ev.Action, ev.LabelID = "remove", ps.labels[i]
			ps.labels = slices.Delete(ps.labels, i, i+1)
		default:
			if l := notOn(); l != 0 {
				ev.Action, ev.LabelID = "add", l
				ps.labels = append(ps.labels, l)
			} else {
				i := g.r.IntN(len(ps.labels))
				ev.Action, ev.LabelID = "remove", ps.labels[i]
				ps.labels = slices.Delete(ps.labels, i, i+1)
			}
		}
		ev.Hidden = g.r.IntN(100) < 5
	case famState:
		switch {
		case ps.typ == "MergeRequest" && ps.state == "merged":
			return ev, false
		case ps.state == "closed":
			ev.State, ps.state, ps.closedAt = "reopened", "opened", nil
		case ps.typ == "MergeRequest" && g.r.IntN(10) < 7:
			ev.State, ps.state, ps.mergedAt = "merged", "merged", ptrTime(t)
		default:
			ev.State, ps.state, ps.closedAt = "closed", "closed", ptrTime(t)
			if ps.typ == "Issue" && g.r.IntN(5) == 0 {
				ev.SourceCommit = g.sha()
				if g.r.IntN(2) == 0 {
					refs := g.mrsOf[ps.projectID]
					n := sort.Search(len(refs), func(i int) bool { return !refs[i].t.Before(t) })
					if n > 0 {
						ev.SourceMergeRequestID = refs[g.r.IntN(n)].id
					}
				}
			}
		}
		g.anchorState(ps, ev)
	case famMilestone:
		avail := g.projMiles[ps.projectID]
		if ps.typ == "Epic" || len(avail) == 0 {
			return ev, false
		}
		if ps.milestone != 0 && g.r.IntN(100) < 35 {
			ev.Action, ev.MilestoneID, ps.milestone = "remove", ps.milestone, 0
		} else {
			m := avail[g.r.IntN(len(avail))]
			ev.Action, ev.MilestoneID, ps.milestone = "add", m, m
		}
		if g.r.IntN(100) < 5 {
			ev.MilestoneID = 0 // deleted since
		}
		ev.State = ps.state
	case famIteration:
		avail := g.projIters[ps.projectID]
		if ps.typ != "Issue" || !ps.premium || len(avail) == 0 {
			return ev, false
		}
		if ps.iteration != 0 && g.r.IntN(100) < 30 {
			ev.Action, ev.IterationID, ps.iteration = "remove", ps.iteration, 0
		} else {
			it := avail[g.r.IntN(len(avail))]
			ev.Action, ev.IterationID, ps.iteration = "add", it, it
		}
		if g.r.IntN(100) < 3 {
			ev.IterationID = 0
		}
	case famWeight:
		if ps.typ != "Issue" || !ps.premium {
			return ev, false
		}
		if g.r.IntN(10) != 0 {
			w := weights[g.r.IntN(len(weights))]
			ev.Weight = &w
		}
	}
	return ev, true
}

// anchorState records the Events API row a state change produces.
func (g *gen) anchorState(ps *pstate, ev ResourceEvent) {
	if ps.typ == "Epic" {
		return // epic events are not served by the Events API
	}
	author := ev.UserID
	if author == 0 {
		author = GhostID
	}
	e := Event{ProjectID: ps.projectID, AuthorID: author, TargetType: ps.typ, TargetID: ps.id, TargetIID: ps.iid,
		TargetTitle: ps.title, CreatedAt: ev.CreatedAt}
	switch ev.State {
	case "closed":
		e.Action, e.ActionName = "closed", "closed"
	case "reopened":
		e.Action, e.ActionName = "reopened", "opened"
	case "merged":
		e.Action, e.ActionName = "merged", "accepted"
	}
	g.anchors[ps.projectID] = append(g.anchors[ps.projectID], e)
}

func (g *gen) anchorOpened(pid int64, typ string, id, iid, author int64, title string, t time.Time) {
	g.anchors[pid] = append(g.anchors[pid], Event{ProjectID: pid, AuthorID: author, Action: "created", ActionName: "opened",
		TargetType: typ, TargetID: id, TargetIID: iid, TargetTitle: title, CreatedAt: t})
}

func (g *gen) runParent(ps *pstate, created time.Time, k int, forceLabel bool) {
	for _, t := range g.timeline(created, g.now, k) {
		fam := famLabel
		if !forceLabel {
			fam = g.pickFam(ps)
		}
		g.addEvent(ps, fam, t)
	}
}

func (g *gen) genInitialResourceEvents() {
	d := g.d
	for i := range d.Issues {
		is := &d.Issues[i]
		ps := &pstate{typ: "Issue", id: is.ID, iid: is.IID, projectID: is.ProjectID, title: is.Title, premium: g.premiumProj[is.ProjectID], state: "opened"}
		g.anchorOpened(is.ProjectID, "Issue", is.ID, is.IID, is.AuthorID, is.Title, is.CreatedAt)
		if is.ID == g.busyIssueID {
			g.runParent(ps, is.CreatedAt, 50, true)
		} else {
			g.runParent(ps, is.CreatedAt, g.eventCount(), false)
		}
		is.State, is.ClosedAt = ps.state, ps.closedAt
	}
	for i := range d.MergeRequests {
		mr := &d.MergeRequests[i]
		ps := &pstate{typ: "MergeRequest", id: mr.ID, iid: mr.IID, projectID: mr.ProjectID, title: mr.Title, state: "opened"}
		g.anchorOpened(mr.ProjectID, "MergeRequest", mr.ID, mr.IID, mr.AuthorID, mr.Title, mr.CreatedAt)
		g.runParent(ps, mr.CreatedAt, g.eventCount(), false)
		mr.State, mr.ClosedAt, mr.MergedAt = ps.state, ps.closedAt, ps.mergedAt
	}
	for i := range d.Epics {
		ep := &d.Epics[i]
		ps := &pstate{typ: "Epic", id: ep.ID, iid: ep.IID, groupID: ep.GroupID, title: ep.Title, state: "opened"}
		g.runParent(ps, ep.CreatedAt, g.eventCount(), false)
		ep.State, ep.ClosedAt = ps.state, ps.closedAt
	}
}

// flushResources sorts the generated resource events of each family by
// time, gives them ids continuing the family's sequence and appends them.
func (g *gen) flushResources() {
	for f := range numFams {
		evs := g.fams[f]
		g.fams[f] = nil
		order := orderByTime(len(evs), func(i int) time.Time { return evs[i].CreatedAt })
		dst := g.d.fam(f)
		next := int64(1)
		if n := len(*dst); n > 0 {
			next = (*dst)[n-1].ID + 1
		}
		for _, i := range order {
			e := evs[i]
			e.ID = next
			next++
			*dst = append(*dst, e)
		}
	}
}

// markBusyHidden hides a run of the busy issue's label events, so a page of
// its resource label events comes back short while another page follows.
func (g *gen) markBusyHidden() {
	n := 0
	for i := range g.d.LabelEvents {
		e := &g.d.LabelEvents[i]
		if e.ParentType == "Issue" && e.ParentID == g.busyIssueID {
			if n >= 20 && n < 28 {
				e.Hidden = true
			}
			n++
		}
	}
}

// ---- Events API ----

func (g *gen) fillEvent(pid int64, t time.Time) Event {
	author := g.pickAuthor()
	e := Event{ProjectID: pid, AuthorID: author, CreatedAt: t}
	x := g.r.IntN(100)
	if x < 45 {
		refs := g.noteables[pid]
		n := sort.Search(len(refs), func(i int) bool { return !refs[i].t.Before(t) })
		if n > 0 {
			ref := refs[g.r.IntN(n)]
			e.Action, e.ActionName, e.TargetType, e.TargetTitle = "commented", "commented on", "Note", ref.title
			e.Note = &Note{Body: noteBodies[g.r.IntN(len(noteBodies))], AuthorID: author, System: g.r.IntN(100) < 4,
				NoteableType: ref.typ, NoteableID: ref.id, NoteableIID: ref.iid, CreatedAt: t}
			return e
		}
		x = 50 // nothing to comment on yet: a push instead
	}
	switch {
	case x < 80:
		ref := "main"
		if g.r.IntN(2) == 0 {
			ref = "feature/" + strconv.Itoa(1+g.r.IntN(200))
		}
		e.Action, e.ActionName = "pushed", "pushed to"
		e.Push = &PushData{CommitCount: int64(1 + g.r.IntN(5)), Action: "pushed", RefType: "branch", CommitFrom: g.sha(), CommitTo: g.sha(),
			Ref: ref, CommitTitle: g.title()}
	case x < 85:
		e.Action, e.ActionName = "pushed", "pushed new"
		if g.r.IntN(10) == 0 {
			e.Push = &PushData{CommitCount: 0, Action: "created", RefType: "tag", CommitTo: g.sha(),
				Ref: "v1." + strconv.Itoa(g.r.IntN(30)) + ".0"}
		} else {
			e.Push = &PushData{CommitCount: int64(1 + g.r.IntN(3)), Action: "created", RefType: "branch", CommitTo: g.sha(),
				Ref: "feature/" + strconv.Itoa(1+g.r.IntN(200)), CommitTitle: g.title()}
		}
	case x < 97:
		k := g.r.IntN(len(wikiTitles))
		e.Action = "updated"
		if x < 89 {
			e.Action = "created"
		}
		title := wikiTitles[k]
		e.ActionName, e.TargetType, e.TargetID, e.TargetTitle = e.Action, "WikiPage::Meta", g.wikiMetaBase[pid]+int64(k), title
		e.TargetIID = e.TargetID
		e.Wiki = &WikiPage{Format: "markdown", Slug: strings.ReplaceAll(strings.ToLower(title), " ", "-"), Title: title}
	default:
		e.Action, e.ActionName = "joined", "joined"
	}
	return e
}

func (g *gen) genInitialEvents() {
	d := g.d
	total := 0
	for _, p := range d.Projects {
		if p.Big {
			total += g.sc.BigProjectEvents
		} else {
			total += g.sc.EventsPerProject
		}
	}
	all := make([]Event, 0, total)
	for _, p := range d.Projects {
		budget := g.sc.EventsPerProject
		if p.Big {
			budget = g.sc.BigProjectEvents
		}
		anchors := g.anchors[p.ID]
		if limit := budget / 2; len(anchors) > limit {
			g.r.Shuffle(len(anchors), func(i, j int) { anchors[i], anchors[j] = anchors[j], anchors[i] })
			anchors = anchors[:limit]
		}
		all = append(all, anchors...)
		for range budget - len(anchors) {
			all = append(all, g.fillEvent(p.ID, g.eventTime(g.first, g.now)))
		}
	}
	g.anchors = map[int64][]Event{}
	g.commitEvents(all, true)
	g.hideBigRun()
}

// commitEvents sorts new events by time, numbers them (and their notes)
// after the existing ones and appends them. With perturb, a few adjacent
// rows swap ids, so ids grow with created_at only roughly.
func (g *gen) commitEvents(evs []Event, perturb bool) {
	d := g.d
	order := orderByTime(len(evs), func(i int) time.Time { return evs[i].CreatedAt })
	base := len(d.Events)
	d.Events = slices.Grow(d.Events, len(evs))[:base+len(evs)]
	sorted := d.Events[base:]
	for i, o := range order {
		sorted[i] = evs[o]
	}
	if perturb {
		for i := 0; i+1 < len(sorted); i++ {
			if g.r.IntN(100) == 0 && sorted[i+1].CreatedAt.Sub(sorted[i].CreatedAt) < 10*time.Minute {
				sorted[i], sorted[i+1] = sorted[i+1], sorted[i]
				i++
			}
		}
	}
	nextID, nextNote := int64(1), int64(1)
	if base > 0 {
		nextID = d.Events[base-1].ID + 1
	}
	for i := base - 1; i >= 0; i-- {
		if d.Events[i].Note != nil {
			nextNote = d.Events[i].Note.ID + 1
			break
		}
	}
	for i := range sorted {
		e := &sorted[i]
		e.ID = nextID
		nextID++
		if e.Note != nil {
			e.Note.ID = nextNote
			nextNote++
			e.TargetID, e.TargetIID = e.Note.ID, e.Note.ID
		}
		e.Hidden = g.r.IntN(100) < 5
	}
}

// hideBigRun hides 210 consecutive rows of the big project, so any page
// size up to 100 meets an empty page that still names a next page.
func (g *gen) hideBigRun() {
	var pos []int
	for i := range g.d.Events {
		if g.d.Events[i].ProjectID == BigProjectID {
			pos = append(pos, i)
		}
	}
	if len(pos) < 600 {
		return
	}
	s := len(pos) / 3
	for _, i := range pos[s : s+210] {
		g.d.Events[i].Hidden = true
	}
}

// ---- updated_at ----

type ptype uint8

const (
	ptIssue ptype = iota + 1
	ptMR
	ptEpic
)

type pkey struct {
	typ ptype
	id  int64
}

func typOf(s string) ptype {
	switch s {
	case "Issue":
		return ptIssue
	case "MergeRequest":
		return ptMR
	case "Epic":
		return ptEpic
	}
	return 0
}

// rapidWindow: a resource event this close to the parent's previous one
// does not bump the parent's updated_at (the rapid-edit quirk). State
// changes always do.
const rapidWindow = 5 * time.Second

type tmark struct {
	t     time.Time
	state bool
}

// bumpTime returns the parent's updated_at given its resource events in time order.
func bumpTime(upd time.Time, prev time.Time, marks []tmark) (time.Time, int) {
	rapid := 0
	for _, m := range marks {
		if prev.IsZero() || m.state || m.t.Sub(prev) >= rapidWindow {
			if m.t.After(upd) {
				upd = m.t
			}
		} else {
			rapid++
		}
		prev = m.t
	}
	return upd, rapid
}

func (g *gen) computeUpdated() {
	d := g.d
	marks := map[pkey][]tmark{}
	for f := range numFams {
		for _, e := range *d.fam(f) {
			k := pkey{typOf(e.ParentType), e.ParentID}
			marks[k] = append(marks[k], tmark{e.CreatedAt, f == famState})
		}
	}
	notes := map[pkey]time.Time{}
	for i := range d.Events {
		if n := d.Events[i].Note; n != nil {
			k := pkey{typOf(n.NoteableType), n.NoteableID}
			if n.CreatedAt.After(notes[k]) {
				notes[k] = n.CreatedAt
			}
		}
	}
	upd := func(k pkey, created time.Time) time.Time {
		m := marks[k]
		slices.SortStableFunc(m, func(a, b tmark) int { return a.t.Compare(b.t) })
		u, _ := bumpTime(created, time.Time{}, m)
		if nt := notes[k]; nt.After(u) {
			u = nt
		}
		return u
	}
	for i := range d.Issues {
		d.Issues[i].UpdatedAt = upd(pkey{ptIssue, d.Issues[i].ID}, d.Issues[i].CreatedAt)
	}
	for i := range d.MergeRequests {
		d.MergeRequests[i].UpdatedAt = upd(pkey{ptMR, d.MergeRequests[i].ID}, d.MergeRequests[i].CreatedAt)
	}
	for i := range d.Epics {
		d.Epics[i].UpdatedAt = upd(pkey{ptEpic, d.Epics[i].ID}, d.Epics[i].CreatedAt)
	}
}

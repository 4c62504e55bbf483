package gitlabfake

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// plus2 is freeorg/tool's render zone.
var plus2 = time.FixedZone("+02:00", 2*3600)

var usernames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
	"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "uma", "victor", "walter"}

// genTopology fills in what the activity happens in: users, groups,
// projects, labels, milestones and iterations. It is fixed but for the
// number of users and draws nothing at random.
func genTopology(d *Data, users int, first time.Time) {
	d.Users = topoUsers(users, first)
	gc := first.AddDate(-2, 0, 0)
	d.Groups = topoGroups(gc)
	d.Projects = topoProjects(gc)
	d.Labels = topoLabels(d.Projects)
	d.Milestones = topoMilestones(d.Projects, first)
	d.Iterations = topoIterations(first)
}

// topoUsers are root, the ghost and n regular users (the fourth blocked,
// the sixth locked out).
func topoUsers(n int, first time.Time) []User {
	us := []User{
		{ID: RootID, Username: "root", Name: "Administrator", State: "active", CreatedAt: first.AddDate(-3, 0, 0)},
		{ID: GhostID, Username: "ghost", Name: "Ghost User", State: "active", CreatedAt: first.AddDate(-3, 0, 0)},
	}
	for i := range n {
		name := "user" + strconv.Itoa(i+1)
		if i < len(usernames) {
			name = usernames[i]
		}
		state := "active"
		if i == 3 {
			state = "blocked"
		}
		us = append(us, User{ID: int64(3 + i), Username: name, Name: strings.ToUpper(name[:1]) + name[1:] + " Example",
			State: state, Locked: i == 5, CreatedAt: first.AddDate(-1, 0, i)})
	}
	return us
}

// topoGroups are acme (Premium), its subgroup acme/platform and freeorg (Free).
func topoGroups(gc time.Time) []Group {
	return []Group{
		{ID: AcmeID, Path: "acme", Name: "Acme", FullPath: "acme", Premium: true, CreatedAt: gc},
		{ID: PlatformID, ParentID: AcmeID, Path: "platform", Name: "Platform", FullPath: "acme/platform", Premium: true, CreatedAt: gc.Add(time.Hour)},
		{ID: FreeOrgID, Path: "freeorg", Name: "FreeOrg", FullPath: "freeorg", CreatedAt: gc.Add(2 * time.Hour)},
	}
}

func topoProjects(gc time.Time) []Project {
	return []Project{
		{ID: APIProjectID, GroupID: AcmeID, Path: "api", Name: "api", PathWithNamespace: "acme/api", Zone: time.UTC, CreatedAt: gc.AddDate(0, 1, 0)},
		{ID: DBProjectID, GroupID: PlatformID, Path: "db", Name: "db", PathWithNamespace: "acme/platform/db", Zone: time.UTC, CreatedAt: gc.AddDate(0, 2, 0)},
		{ID: BigProjectID, GroupID: PlatformID, Path: "big", Name: "big", PathWithNamespace: "acme/platform/big", Zone: time.UTC, Big: true, CreatedAt: gc.AddDate(0, 3, 0)},
		{ID: ToolProjectID, GroupID: FreeOrgID, Path: "tool", Name: "tool", PathWithNamespace: "freeorg/tool", Zone: plus2, CreatedAt: gc.AddDate(0, 4, 0)},
	}
}

// topoLabels are the groups' labels, then four labels per project;
// team::frontend is archived.
func topoLabels(projects []Project) []Label {
	var ls []Label
	add := func(pid, gid int64, name, color, desc string) {
		ls = append(ls, Label{ID: int64(len(ls) + 1), ProjectID: pid, GroupID: gid, Name: name, Color: color,
			TextColor: textColor(color), Description: desc, Archived: name == "team::frontend"})
	}
	add(0, AcmeID, "priority::high", "#d9534f", "Fix first")
	add(0, AcmeID, "priority::low", "#5cb85c", "")
	add(0, AcmeID, "team::backend", "#428bca", "")
	add(0, AcmeID, "team::frontend", "#8e44ad", "")
	add(0, PlatformID, "component::storage", "#f0ad4e", "Storage layer")
	add(0, FreeOrgID, "needs-triage", "#cccccc", "")
	for _, p := range projects {
		add(p.ID, 0, "bug", "#d9534f", "Something is broken")
		add(p.ID, 0, "feature", "#5cb85c", "")
		add(p.ID, 0, "documentation", "#428bca", "")
		add(p.ID, 0, "security", "#000000", "Security relevant")
	}
	return ls
}

// textColor is the text color GitLab picks for a label of color c: dark
// on a light background, white on a dark one.
func textColor(c string) string {
	var r, g, b int
	if _, err := fmt.Sscanf(c, "#%02x%02x%02x", &r, &g, &b); err != nil {
		return "#FFFFFF"
	}
	if r*299+g*587+b*114 > 186*1000 {
		return "#333333"
	}
	return "#FFFFFF"
}

// topoMilestones are project milestones, then group milestones; some dates
// and descriptions are null.
func topoMilestones(projects []Project, first time.Time) []Milestone {
	var ms []Milestone
	add := func(pid, gid, iid int64, title, state string, start, due *time.Time) {
		desc := ""
		if iid == 1 {
			desc = "Everything planned for " + title
		}
		ms = append(ms, Milestone{ID: int64(len(ms) + 1), IID: iid, ProjectID: pid, GroupID: gid,
			Title: title, Description: desc, State: state, CreatedAt: first.AddDate(0, 0, -10), UpdatedAt: first.AddDate(0, 0, -10),
			StartDate: start, DueDate: due})
	}
	f := date(first)
	for _, p := range projects {
		add(p.ID, 0, 1, "v1.0", "closed", ptrTime(f), ptrTime(f.AddDate(0, 0, 30)))
		add(p.ID, 0, 2, "v1.1", "active", nil, ptrTime(f.AddDate(0, 0, 90)))
		add(p.ID, 0, 3, "v2.0", "active", nil, nil)
	}
	add(0, AcmeID, 1, "2026 Q3", "closed", ptrTime(f.AddDate(0, 0, -20)), ptrTime(f.AddDate(0, 0, 70)))
	add(0, AcmeID, 2, "2026 Q4", "active", ptrTime(f.AddDate(0, 0, 71)), nil)
	add(0, FreeOrgID, 1, "Backlog", "active", nil, nil)
	return ms
}

// topoIterations are acme's: a two-week cadence over the history and a bit beyond.
func topoIterations(first time.Time) []Iteration {
	var its []Iteration
	f := date(first)
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
		its = append(its, Iteration{ID: int64(k + 1), IID: int64(k + 1), GroupID: AcmeID, Title: title, State: state,
			StartDate: st, DueDate: due, CreatedAt: first.AddDate(0, 0, -14), UpdatedAt: first.AddDate(0, 0, -14)})
	}
	return its
}

// lookups are what generated rows can refer to, derived from d's topology.
type lookups struct {
	regular      []int64 // users besides root and the ghost
	alice        int64
	groupByID    map[int64]*Group
	premiumProj  map[int64]bool
	projLabels   map[int64][]int64 // labels usable in a project: its own and its groups'
	groupLabels  map[int64][]int64 // labels usable on a group's epics
	projMiles    map[int64][]int64
	projIters    map[int64][]int64
	wikiMetaBase map[int64]int64
}

func newLookups(d *Data) *lookups {
	l := &lookups{groupByID: map[int64]*Group{}, premiumProj: map[int64]bool{}, projLabels: map[int64][]int64{},
		groupLabels: map[int64][]int64{}, projMiles: map[int64][]int64{}, projIters: map[int64][]int64{},
		wikiMetaBase: map[int64]int64{}}
	for _, u := range d.Users {
		if u.ID != RootID && u.ID != GhostID {
			l.regular = append(l.regular, u.ID)
		}
		if u.Username == "alice" {
			l.alice = u.ID
		}
	}
	for i := range d.Groups {
		l.groupByID[d.Groups[i].ID] = &d.Groups[i]
	}
	for _, gr := range d.Groups {
		anc := l.ancestors(gr.ID)
		for _, lb := range d.Labels {
			if lb.GroupID != 0 && slices.Contains(anc, lb.GroupID) {
				l.groupLabels[gr.ID] = append(l.groupLabels[gr.ID], lb.ID)
			}
		}
	}
	for pi, p := range d.Projects {
		l.addProject(d, p)
		l.wikiMetaBase[p.ID] = int64(pi*10 + 1)
	}
	return l
}

// addProject records what p's rows can refer to.
func (l *lookups) addProject(d *Data, p Project) {
	anc := l.ancestors(p.GroupID)
	l.premiumProj[p.ID] = l.groupByID[p.GroupID] != nil && l.groupByID[p.GroupID].Premium
	for _, lb := range d.Labels {
		if lb.ProjectID == p.ID || (lb.GroupID != 0 && slices.Contains(anc, lb.GroupID)) {
			l.projLabels[p.ID] = append(l.projLabels[p.ID], lb.ID)
		}
	}
	for _, m := range d.Milestones {
		if m.ProjectID == p.ID || (m.GroupID != 0 && slices.Contains(anc, m.GroupID)) {
			l.projMiles[p.ID] = append(l.projMiles[p.ID], m.ID)
		}
	}
	for _, it := range d.Iterations {
		if slices.Contains(anc, it.GroupID) {
			l.projIters[p.ID] = append(l.projIters[p.ID], it.ID)
		}
	}
}

// ancestors returns gid and the groups above it.
func (l *lookups) ancestors(gid int64) []int64 {
	var out []int64
	for gid != 0 {
		out = append(out, gid)
		gr := l.groupByID[gid]
		if gr == nil {
			break
		}
		gid = gr.ParentID
	}
	return out
}

package gitlabfake

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	noteBodies = []string{"LGTM", "Can you add a test for this?", "I think this breaks the export.", "Fixed in the latest push.",
		"Let's discuss this on Monday.", "+1", "Needs a rebase.", "Reproduced on main.", "Closing as duplicate?",
		"Thanks for the quick fix!"}
	wikiTitles = []string{"Home", "Getting Started", "Architecture", "Runbook", "FAQ"}
)

// eventBudget is how many Events API rows project p gets.
func (sc Scale) eventBudget(p Project) int {
	if p.Big {
		return sc.BigProjectEvents
	}
	return sc.EventsPerProject
}

// genInitialEvents fills each project's Events API history: the rows its
// parents' changes made (at most half the budget) and made-up activity.
func (g *gen) genInitialEvents() {
	d := g.d
	total := 0
	for _, p := range d.Projects {
		total += g.sc.eventBudget(p)
	}
	all := make([]Event, 0, total)
	for _, p := range d.Projects {
		budget := g.sc.eventBudget(p)
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

// fillEvent makes up an Events API row of project pid at t: a comment, a
// push, a new branch or tag, a wiki edit or a member joining.
func (g *gen) fillEvent(pid int64, t time.Time) Event {
	e := Event{ProjectID: pid, AuthorID: g.pickAuthor(), CreatedAt: t}
	x := g.r.IntN(100)
	if x < 45 {
		if g.commentEvent(&e) {
			return e
		}
		x = 50 // nothing to comment on yet: a push instead
	}
	switch {
	case x < 80:
		g.pushEvent(&e)
	case x < 85:
		g.newRefEvent(&e)
	case x < 97:
		g.wikiEvent(&e, x < 89)
	default:
		e.Action, e.ActionName = "joined", "joined"
	}
	return e
}

// commentEvent makes e a comment on an issue or MR created before it;
// false if there is none yet.
func (g *gen) commentEvent(e *Event) bool {
	refs := g.refs.noteables[e.ProjectID]
	n := createdBefore(refs, e.CreatedAt)
	if n == 0 {
		return false
	}
	ref := refs[g.r.IntN(n)]
	e.Action, e.ActionName, e.TargetType, e.TargetTitle = "commented", "commented on", "Note", ref.title
	e.Note = &Note{Body: noteBodies[g.r.IntN(len(noteBodies))], AuthorID: e.AuthorID, System: g.r.IntN(100) < 4,
		NoteableType: ref.typ, NoteableID: ref.id, NoteableIID: ref.iid, CreatedAt: e.CreatedAt}
	return true
}

// pushEvent makes e a push to main or a feature branch.
func (g *gen) pushEvent(e *Event) {
	ref := "main"
	if g.r.IntN(2) == 0 {
		ref = "feature/" + strconv.Itoa(1+g.r.IntN(200))
	}
	e.Action, e.ActionName = "pushed", "pushed to"
	e.Push = &PushData{CommitCount: int64(1 + g.r.IntN(5)), Action: "pushed", RefType: "branch", CommitFrom: g.sha(), CommitTo: g.sha(),
		Ref: ref, CommitTitle: g.title()}
}

// newRefEvent makes e the push of a new tag or branch.
func (g *gen) newRefEvent(e *Event) {
	e.Action, e.ActionName = "pushed", "pushed new"
	if g.r.IntN(10) == 0 {
		e.Push = &PushData{CommitCount: 0, Action: "created", RefType: "tag", CommitTo: g.sha(),
			Ref: "v1." + strconv.Itoa(g.r.IntN(30)) + ".0"}
	} else {
		e.Push = &PushData{CommitCount: int64(1 + g.r.IntN(3)), Action: "created", RefType: "branch", CommitTo: g.sha(),
			Ref: "feature/" + strconv.Itoa(1+g.r.IntN(200)), CommitTitle: g.title()}
	}
}

// wikiEvent makes e the creation or an update of a wiki page.
func (g *gen) wikiEvent(e *Event, created bool) {
	k := g.r.IntN(len(wikiTitles))
	e.Action = "updated"
	if created {
		e.Action = "created"
	}
	title := wikiTitles[k]
	e.ActionName, e.TargetType, e.TargetID, e.TargetTitle = e.Action, "WikiPage::Meta", g.look.wikiMetaBase[e.ProjectID]+int64(k), title
	e.TargetIID = e.TargetID
	e.Wiki = &WikiPage{Format: "markdown", Slug: strings.ReplaceAll(strings.ToLower(title), " ", "-"), Title: title}
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
		g.eventTraits(e)
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

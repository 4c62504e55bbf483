package gitlabfake

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"time"
)

// The generator is split by entity: the topology (users, groups, projects,
// labels, milestones, iterations) in gen_topology.go, issues, merge
// requests and epics in gen_parents.go, their resource events in
// gen_resources.go and gen_families.go, the Events API rows in
// gen_events.go, updated_at in gen_updated.go and audit events in
// gen_audit.go. AddActivity (activity*.go) drives the same generator over
// an existing instance.

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

var (
	verbs = []string{"Fix", "Add", "Improve", "Refactor", "Remove", "Document", "Speed up", "Investigate", "Migrate", "Harden"}
	nouns = []string{"login flow", "export job", "rate limiter", "cache layer", "search index", "billing report",
		"webhook retries", "CI pipeline", "audit log", "user settings", "API pagination", "dark mode", "backup script",
		"release notes", "error pages"}
)

// gen generates rows into d, for the initial instance and for AddActivity.
// It reads lookups derived from d's topology (look) and parents (refs);
// what one step makes for a later one waits in anchors and fams.
type gen struct {
	r     *rand.Rand
	d     *Data
	sc    Scale
	first time.Time // start of history
	start time.Time // new rows are created after this
	now   time.Time // ... and before this

	look *lookups    // what rows can refer to: users, labels, milestones, iterations
	refs *parentRefs // issues and MRs by project, for comments and closing MRs

	anchors map[int64][]Event        // Events API rows of parents' changes, by project
	fams    [numFams][]ResourceEvent // resource events not yet numbered (flushResources)

	traitSeed uint64 // seeds the per-row trait streams (gen_traits.go)
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
	g.traitSeed = uint64(seed)
	g.start, g.now = g.first, BaseTime
	genTopology(d, sc.Users, g.first)
	g.look = newLookups(d)
	g.genParents()
	g.refs = newParentRefs(d)
	g.genInitialResourceEvents()
	g.flushResources()
	g.markBusyHidden()
	g.genInitialEvents()
	noMarks := [numFams]int{}
	bumpUpdated(d, resourceMarks(d, noMarks), noteTimes(d.Events), func(pkey) time.Time { return time.Time{} })
	d.commitNotes(g.parentNotes([3]int{}))
	newAuditGen(newRand(seed, 2), d, sc).genInitialAudit(g.first, g.now)
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

// sortedTimes draws n times in [lo, hi) and sorts them.
func (g *gen) sortedTimes(n int, lo, hi time.Time) []time.Time {
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = g.between(lo, hi)
	}
	slices.SortFunc(ts, cmpTime)
	return ts
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
	case x < 36 && g.look.alice != 0:
		return g.look.alice
	case x < 38:
		return GhostID
	}
	if len(g.look.regular) == 0 {
		return RootID
	}
	return g.look.regular[g.r.IntN(len(g.look.regular))]
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

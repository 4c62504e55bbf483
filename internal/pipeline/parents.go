package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// listedParent is a listed parent: where its events live and when it last
// changed.
type listedParent struct {
	extract.Parent
	UpdatedAt time.Time
}

// lister pages the parents of one kind updated in w, handing each page
// to fn after storing the parents themselves as dimension rows. split,
// when not nil, first sees the first page's extent and the oldest
// updated_at on it, and may stop the listing there (the lister then
// reports true) to read w in parts instead.
type lister func(ctx context.Context, w extract.UpdatedWindow, split func(extract.Extent, time.Time) bool,
	fn func([]listedParent) error) (bool, error)

// lister returns the listing of parents of kind k in the scope with id
// scopeID (a project for issues and merge requests, a group for epics).
func (r *Runner) lister(k schemas.ParentKind, scopeID int64) lister {
	switch k {
	case schemas.ParentIssue:
		return listKind(r, k, scopeID, transform.AppendIssue, func(it *extract.Issue) listedParent {
			return listedParent{extract.Parent{Type: k, ID: it.ID, IID: it.IID, ProjectID: it.ProjectID}, it.UpdatedAt}
		})
	case schemas.ParentMergeRequest:
		return listKind(r, k, scopeID, transform.AppendMergeRequest, func(m *extract.MergeRequest) listedParent {
			return listedParent{extract.Parent{Type: k, ID: m.ID, IID: m.IID, ProjectID: m.ProjectID}, m.UpdatedAt}
		})
	default:
		return listKind(r, k, scopeID, transform.AppendEpic, func(e *extract.Epic) listedParent {
			var wi int64
			if e.WorkItemID != nil {
				wi = *e.WorkItemID
			}
			return listedParent{extract.Parent{Type: k, ID: e.ID, IID: e.IID, GroupID: e.GroupID, WorkItemID: wi}, e.UpdatedAt}
		})
	}
}

// listKind is the lister of parents of kind k, whose entity is T: add
// appends one to its dimension table, parent makes it a listedParent.
func listKind[T any, P extract.ParentRow[T]](r *Runner, k schemas.ParentKind, scopeID int64,
	add func(*transform.Builder, *transform.Referenced, *T), parent func(*T) listedParent) lister {
	return func(ctx context.Context, w extract.UpdatedWindow, split func(extract.Extent, time.Time) bool, fn func([]listedParent) error) (bool, error) {
		var sized func(extract.Extent, []T) bool
		if split != nil {
			sized = func(ext extract.Extent, rows []T) bool {
				var oldest time.Time
				if len(rows) > 0 {
					oldest = parent(&rows[0]).UpdatedAt
				}
				return split(ext, oldest)
			}
		}
		return extract.ListParents[T, P](ctx, r.Client, k, scopeID, w, sized, parentPage(ctx, r, k, fn, add, parent))
	}
}

// parentPage returns the handler of a listed page of parents of kind k: it
// stores them as rows of k's dimension table (with add), then the users
// they reference, and hands them (as made by parent) to fn.
func parentPage[T any](ctx context.Context, r *Runner, k schemas.ParentKind, fn func([]listedParent) error,
	add func(*transform.Builder, *transform.Referenced, *T), parent func(*T) listedParent) func([]T) error {
	return func(rows []T) error {
		refs := transform.NewReferenced()
		if err := r.upsert(ctx, k.Table(), func(b *transform.Builder) {
			for i := range rows {
				add(b, refs, &rows[i])
			}
		}); err != nil {
			return err
		}
		if err := r.flushRefs(ctx, refs); err != nil {
			return err
		}
		ps := make([]listedParent, len(rows))
		for i := range rows {
			ps[i] = parent(&rows[i])
		}
		return fn(ps)
	}
}

// famState is one family's progress inside a parents unit.
type famState struct {
	family
	licence
	key load.WatermarkKey
	wm  time.Time // zero: never completed
	b   *transform.Builder
}

// parentsUnit reads the resource events of one parent kind in one scope:
// it lists the parents updated since the oldest of its families'
// watermarks (less the overlap; the full history on a first run), pages
// each family's events for every parent that changed since that family's
// watermark, and stores them. Each family's watermark becomes the newest
// updated_at listed, written with the family's last rows. Its phases are
// open, schedule (per listed parent), fetch (per parent and family) and
// finish.
type parentsUnit struct {
	r     *Runner
	pl    config.Pipeline
	kind  schemas.ParentKind
	scope string
	list  lister
	fams  []family

	states  []*famState
	listMu  sync.Mutex          // serialises schedule across listing windows
	handled map[int64]time.Time // parent id → updated_at already scheduled; under listMu
	pages   pageBudget          // under listMu

	mu     sync.Mutex // guards the builders, refs, licences and newest
	st     *storer    // stores the builders' batches in cut order
	refs   *transform.Referenced
	newest time.Time // newest updated_at listed (not future-dated)
}

func (r *Runner) parentsUnit(pl config.Pipeline, k schemas.ParentKind, scopeID int64, fams []family) unit {
	scope := k.Scope().Key(scopeID)
	return unit{scope: scope, run: func(ctx context.Context) error {
		u := &parentsUnit{r: r, pl: pl, kind: k, scope: scope, list: r.lister(k, scopeID), fams: fams,
			handled: map[int64]time.Time{}, refs: transform.NewReferenced(), st: r.newStorer(ctx),
			pages: pageBudget{max: r.Client.MaxPages(), path: k.Table().Name + " of " + scope}}
		defer u.release()
		defer u.st.wait() // stops the storer on error paths; finish waits itself
		return u.run(ctx)
	}}
}

func (u *parentsUnit) run(ctx context.Context) error {
	listFrom, err := u.open(ctx)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.r.Concurrency)
	listErr := drain(gctx, u.r.Concurrency, []extract.UpdatedWindow{{From: listFrom}},
		func(lctx context.Context, w extract.UpdatedWindow) ([]extract.UpdatedWindow, error) {
			return u.listWindow(lctx, gctx, g, w)
		})
	if err := g.Wait(); err != nil {
		return err
	}
	if listErr != nil {
		return u.listingFailed(listErr)
	}
	return u.finish(ctx)
}

// release releases the families' builders, giving back the rows of the
// run's budget they still hold (on error paths).
func (u *parentsUnit) release() {
	for _, st := range u.states {
		u.r.budget.stored(st.b.Len(), false)
		st.b.Release()
	}
}

// cutAllLocked cuts every family's rows, for the run's budget. Called
// under mu.
func (u *parentsUnit) cutAllLocked(ctx context.Context) error {
	for _, st := range u.states {
		if st.b.Len() > 0 {
			if err := u.st.cut(ctx, st.b, u.refs); err != nil {
				return err
			}
		}
	}
	return nil
}

// open reads each family's watermark (and, for a Premium stream never
// completed, whether it was refused before) and returns where the listing
// starts: the oldest point any family needs. A stream refused before does
// not widen the listing (see licence.wasRefused) unless every family was
// refused: then the parents changed since the oldest probe are listed. A
// parent table marked for a refresh is listed from since: every parent is
// stored again, its families still read only where it changed.
func (u *parentsUnit) open(ctx context.Context) (time.Time, error) {
	var from, probeFrom []time.Time
	for _, f := range u.fams {
		st := &famState{family: f, licence: licence{premium: f.Optional(u.kind)},
			key: load.WatermarkKey{Pipeline: u.pl.Name, Scope: u.scope, Stream: u.kind.Table().Name + "/" + f.Name()},
			b:   transform.NewBuilder(u.r.Mem, f.Table, u.r.Meta)}
		u.states = append(u.states, st)
		wm, ok, err := u.r.Warehouse.Watermark(ctx, st.key)
		if err != nil {
			return time.Time{}, fatal(err)
		}
		if wm, ok = u.r.trusted(st.key, wm, ok); ok {
			st.wm = wm
			from = append(from, wm.Add(-u.pl.Overlap))
			continue
		}
		if st.premium {
			a, found, err := u.r.Warehouse.Availability(ctx, st.key)
			if err != nil {
				return time.Time{}, fatal(err)
			}
			if st.wasRefused = found && !a.Available; st.wasRefused {
				st.lastProbe = a.CheckedAt
				probeFrom = append(probeFrom, a.CheckedAt.Add(-u.pl.Overlap))
				continue
			}
		}
		from = append(from, u.pl.Since)
	}
	if len(from) == 0 {
		from = probeFrom
	}
	if u.r.Refresh[u.kind.Table().Name] {
		return u.pl.Since, nil
	}
	return oldest(from), nil
}

func oldest(ts []time.Time) time.Time {
	var o time.Time
	for i, t := range ts {
		if i == 0 || t.Before(o) {
			o = t
		}
	}
	return o
}

// listWindow lists the parents updated in w (on ctx) and schedules their
// fetches on g (on gctx, g's context: they outlive the listing), or, if
// w's first page shows it too long for one chain of pages, returns its
// parts to list instead.
func (u *parentsUnit) listWindow(ctx, gctx context.Context, g *errgroup.Group, w extract.UpdatedWindow) ([]extract.UpdatedWindow, error) {
	listing := u.r.Counters.stream(u.kind.Table().Name)
	var parts []extract.UpdatedWindow
	split, err := u.list(ctx, w, func(ext extract.Extent, oldest time.Time) bool {
		parts = u.split(w, ext, oldest)
		return len(parts) > 1
	}, func(ps []listedParent) error {
		listing.page(len(ps))
		u.listMu.Lock()
		defer u.listMu.Unlock()
		if err := u.pages.take(); err != nil {
			return err
		}
		for _, p := range ps {
			u.schedule(gctx, g, p)
		}
		return nil
	})
	if err != nil || !split {
		return nil, err
	}
	return parts, nil
}

// splitPages is the most pages a window of a parent listing is read in
// one serial chain: a bigger one is split into windows of updated_at read
// in parallel, since a chain of pages, each waiting for the one before, is
// what bounds a big project's backfill, not the pool.
const splitPages = 8

// minListWindow is the shortest span of updated_at a listing is split to.
const minListWindow = time.Minute

// split decides from window w's first page whether to list it in parts,
// and returns them (none: list it whole): as eventsRun.split, by spans of
// updated_at from the oldest one seen (the listing is ordered by it) to
// now, the first part starting where w does and the last one open-ended
// if w is, so that the parts cover w. Parts share their boundary instant;
// a parent updated at it comes twice and is scheduled once.
func (u *parentsUnit) split(w extract.UpdatedWindow, ext extract.Extent, oldest time.Time) []extract.UpdatedWindow {
	if ext.Known() && ext.TotalPages <= splitPages {
		return nil
	}
	from, until := w.From, w.Until
	if oldest = oldest.UTC().Truncate(time.Millisecond); oldest.After(from) {
		from = oldest
	}
	if until.IsZero() {
		until = u.r.Client.ServerNow().UTC()
	}
	n := 2 * u.r.Concurrency // GitLab stopped counting: more than 100 pages
	if ext.Known() {
		n = int((ext.TotalPages + splitPages - 1) / splitPages)
	}
	span := until.Sub(from)
	if n = min(n, int(span/minListWindow)); n < 2 {
		return nil
	}
	parts := make([]extract.UpdatedWindow, n)
	for i := range n {
		parts[i] = extract.UpdatedWindow{
			From:  from.Add(span * time.Duration(i) / time.Duration(n)).Truncate(time.Millisecond),
			Until: from.Add(span * time.Duration(i+1) / time.Duration(n)).Truncate(time.Millisecond),
		}
	}
	parts[0].From, parts[n-1].Until = w.From, w.Until
	return parts
}

// schedule queues the fetches a listed parent needs: one per family whose
// watermark (less the overlap) it changed after. A parent delivered again
// by the inclusive cursor or by two windows, unchanged, is skipped. It runs
// under listMu.
func (u *parentsUnit) schedule(ctx context.Context, g *errgroup.Group, p listedParent) {
	if at, ok := u.handled[p.ID]; ok && !p.UpdatedAt.After(at) {
		return
	}
	u.handled[p.ID] = p.UpdatedAt
	// A future-dated parent is read like any changed one but cannot be
	// the watermark: see Runner.future.
	if !u.r.future(u.pl.Name, u.scope, u.kind.Table().Name, p.UpdatedAt) {
		u.mu.Lock()
		if p.UpdatedAt.After(u.newest) {
			u.newest = p.UpdatedAt
		}
		u.mu.Unlock()
	}
	for _, st := range u.states {
		if !st.wm.IsZero() && p.UpdatedAt.Before(st.wm.Add(-u.pl.Overlap)) {
			continue
		}
		c := u.r.Counters.stream(st.Name())
		c.queue()
		g.Go(func() error {
			return u.r.guarded(func() error {
				defer c.parent()
				return u.fetch(ctx, st, p)
			})
		})
	}
}

// fetch pages one family's events of one parent into the family's builder
// and lets the family's licence judge the answer.
func (u *parentsUnit) fetch(ctx context.Context, st *famState, p listedParent) error {
	u.mu.Lock()
	off := st.refused
	u.mu.Unlock()
	if off {
		return nil
	}
	rows := 0
	err := st.read(ctx, u.r.Client, p.Parent, u.pl.Since, func(n int, add appender) error {
		if rows += n; rows > u.r.MaxParentRows {
			return fmt.Errorf("%w: more than %d %s rows for one parent; refusing to go on", errTooManyRows, u.r.MaxParentRows, st.Name())
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		before := st.b.Len()
		add(st.b, u.refs)
		u.r.budget.add(st.b.Len() - before)
		if u.r.full(st.b) {
			if err := u.st.cut(ctx, st.b, u.refs); err != nil {
				return err
			}
		}
		return u.r.budget.wait(ctx, func() error { return u.cutAllLocked(ctx) })
	})
	u.mu.Lock()
	defer u.mu.Unlock()
	switch st.observe(err) {
	case refused:
		u.r.warnOnce(u.pl.Name, u.scope, st.Name(), notLicensedMsg, err)
	case gone:
		u.r.Log.Debug("parent gone", "scope", u.scope, "parent", p.Type, "iid", p.IID, "stream", st.Name())
	case failed:
		if isFatal(ctx, err) {
			return err
		}
		return fmt.Errorf("%s %s iid %d: %w", u.kind.Table().Name, st.Name(), p.IID, err)
	}
	return nil
}

const notLicensedMsg = "stream not available here (not licensed or not allowed); skipped"

// listingFailed decides what a failed parent listing means: for a listing
// only Premium families depend on, a 403/404 is "not licensed here" (skip
// with a warning); anything else fails the scope.
func (u *parentsUnit) listingFailed(err error) error {
	premium := len(u.states) > 0
	for _, st := range u.states {
		premium = premium && st.premium
	}
	if premium && notLicensed(err) {
		for _, st := range u.states {
			u.r.warnOnce(u.pl.Name, u.scope, st.Name(), notLicensedMsg, err)
		}
		return nil
	}
	return fmt.Errorf("listing %s: %w", u.kind.Table().Name, err)
}

// finish stores each family's last rows with its new watermark, and
// records what was learnt about its availability.
func (u *parentsUnit) finish(ctx context.Context) error {
	var avails []load.Availability
	for _, st := range u.states {
		var marks []load.Mark
		move, avail := st.settle(st.key, u.r.Meta.ExtractedAt.UTC())
		v := u.newest
		if st.wm.After(v) {
			v = st.wm
		}
		if move && !v.IsZero() {
			marks = append(marks, load.Watermark{WatermarkKey: st.key, Value: v})
		}
		if err := u.st.cut(ctx, st.b, u.refs, marks...); err != nil {
			return err
		}
		if avail != nil {
			avails = append(avails, *avail)
		}
	}
	if err := u.st.wait(); err != nil {
		return err
	}
	if err := u.r.Warehouse.SetAvailability(ctx, avails...); err != nil {
		return fatal(err)
	}
	return nil
}

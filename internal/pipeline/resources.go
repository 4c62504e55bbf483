package pipeline

import (
	"context"
	"errors"
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

// family is one resource-event family of one parent kind.
type family struct {
	stream   string // config stream name, also the watermark's stream suffix
	table    schemas.Table
	optional bool // Premium: 403/404 skips the stream instead of failing the scope
	// read pages p's events and hands each page to emit as its row count
	// and a function that appends those created at or after since to b.
	// Pages are emitted as they arrive, so a parent's events are never all
	// in memory at once; emit runs on the reading worker and takes the
	// unit's lock itself, so that workers fetch in parallel while one at a
	// time touches the builder.
	read func(ctx context.Context, c *extract.Client, p extract.Parent, since time.Time, emit func(n int, add func(*transform.Builder, *transform.Refs)) error) error
}

func newFamily[T any, P extract.Row[T]](stream, fam string, t schemas.Table, optional bool,
	created func(*T) time.Time, add func(*transform.Builder, *transform.Refs, extract.Parent, *T)) family {
	return family{stream: stream, table: t, optional: optional,
		read: func(ctx context.Context, c *extract.Client, p extract.Parent, since time.Time, emit func(int, func(*transform.Builder, *transform.Refs)) error) error {
			return extract.ResourceEvents[T, P](ctx, c, p, fam, func(rows []T) error {
				return emit(len(rows), func(b *transform.Builder, refs *transform.Refs) {
					for i := range rows {
						if !created(&rows[i]).Before(since) {
							add(b, refs, p, &rows[i])
						}
					}
				})
			})
		}}
}

var (
	labelFamily = newFamily(config.StreamLabelEvents, extract.FamilyLabel, schemas.LabelEvents, false,
		func(e *extract.LabelEvent) time.Time { return e.CreatedAt }, transform.AppendLabelEvent)
	stateFamily = newFamily(config.StreamStateEvents, extract.FamilyState, schemas.StateEvents, false,
		func(e *extract.StateEvent) time.Time { return e.CreatedAt }, transform.AppendStateEvent)
	milestoneFamily = newFamily(config.StreamMilestoneEvents, extract.FamilyMilestone, schemas.MilestoneEvents, false,
		func(e *extract.MilestoneEvent) time.Time { return e.CreatedAt }, transform.AppendMilestoneEvent)
	iterationFamily = newFamily(config.StreamIterationEvents, extract.FamilyIteration, schemas.IterationEvents, true,
		func(e *extract.IterationEvent) time.Time { return e.CreatedAt }, transform.AppendIterationEvent)
	weightFamily = newFamily(config.StreamWeightEvents, extract.FamilyWeight, schemas.WeightEvents, true,
		func(e *extract.WeightEvent) time.Time { return e.CreatedAt }, transform.AppendWeightEvent)
)

func selected(pl config.Pipeline, fams ...family) []family {
	var out []family
	for _, f := range fams {
		if pl.HasStream(f.stream) {
			out = append(out, f)
		}
	}
	return out
}

func issueFamilies(pl config.Pipeline) []family {
	return selected(pl, labelFamily, stateFamily, milestoneFamily, iterationFamily, weightFamily)
}

func mergeRequestFamilies(pl config.Pipeline) []family {
	return selected(pl, labelFamily, stateFamily, milestoneFamily)
}

func epicFamilies(pl config.Pipeline) []family {
	// Epic routes are Premium: on Free they answer 403/404, which skips them.
	fams := selected(pl, labelFamily, stateFamily)
	for i := range fams {
		fams[i].optional = true
	}
	return fams
}

// parentRef is a listed parent: where its events live and when it last
// changed.
type parentRef struct {
	extract.Parent
	UpdatedAt time.Time
}

// lister pages a parent kind from since on, handing each page to fn after
// storing the parents themselves as dimension rows.
type lister func(ctx context.Context, since time.Time, fn func([]parentRef) error) error

func (r *Runner) issuesUnit(pl config.Pipeline, projectID int64, fams []family) unit {
	list := func(ctx context.Context, since time.Time, fn func([]parentRef) error) error {
		return r.Client.Issues(ctx, projectID, since, func(is []extract.Issue) error {
			return r.parentPage(ctx, schemas.Issues, len(is), func(b *transform.Builder, refs *transform.Refs, i int) parentRef {
				it := &is[i]
				transform.AppendIssue(b, refs, it)
				return parentRef{extract.Parent{Type: "Issue", ID: it.ID, IID: it.IID, ProjectID: it.ProjectID}, it.UpdatedAt}
			}, fn)
		})
	}
	return r.parentsUnit(pl, scopeName("project", projectID), "issues", list, fams)
}

func (r *Runner) mergeRequestsUnit(pl config.Pipeline, projectID int64, fams []family) unit {
	list := func(ctx context.Context, since time.Time, fn func([]parentRef) error) error {
		return r.Client.MergeRequests(ctx, projectID, since, func(ms []extract.MergeRequest) error {
			return r.parentPage(ctx, schemas.MergeRequests, len(ms), func(b *transform.Builder, refs *transform.Refs, i int) parentRef {
				m := &ms[i]
				transform.AppendMergeRequest(b, refs, m)
				return parentRef{extract.Parent{Type: "MergeRequest", ID: m.ID, IID: m.IID, ProjectID: m.ProjectID}, m.UpdatedAt}
			}, fn)
		})
	}
	return r.parentsUnit(pl, scopeName("project", projectID), "merge_requests", list, fams)
}

func (r *Runner) epicsUnit(pl config.Pipeline, groupID int64, fams []family) unit {
	list := func(ctx context.Context, since time.Time, fn func([]parentRef) error) error {
		return r.Client.Epics(ctx, groupID, since, func(es []extract.Epic) error {
			return r.parentPage(ctx, schemas.Epics, len(es), func(b *transform.Builder, refs *transform.Refs, i int) parentRef {
				e := &es[i]
				transform.AppendEpic(b, refs, e)
				return parentRef{extract.Parent{Type: "Epic", ID: e.ID, IID: e.IID, GroupID: e.GroupID}, e.UpdatedAt}
			}, fn)
		})
	}
	return r.parentsUnit(pl, scopeName("group", groupID), "epics", list, fams)
}

// parentPage stores a listed page of n parents as rows of dimension table
// t (add appends parent i and returns its ref), then the users they
// reference, and hands the refs to fn.
func (r *Runner) parentPage(ctx context.Context, t schemas.Table, n int,
	add func(b *transform.Builder, refs *transform.Refs, i int) parentRef, fn func([]parentRef) error) error {
	refs := transform.NewRefs()
	ps := make([]parentRef, n)
	if err := r.upsert(ctx, t, func(b *transform.Builder) {
		for i := range n {
			ps[i] = add(b, refs, i)
		}
	}); err != nil {
		return err
	}
	if err := r.flushRefs(ctx, refs); err != nil {
		return err
	}
	return fn(ps)
}

// famState is one family's progress inside a parents unit.
type famState struct {
	family
	key      load.WatermarkKey
	wm       time.Time // zero: never completed
	b        *transform.Builder
	disabled bool // not licensed here (403/404 on an optional stream)
	// unavailable is set when an earlier run found this optional stream
	// not licensed here. Such a stream does not widen the parent listing
	// to the full history on every run; it is probed on the parents that
	// changed, and if it answers again its marker is cleared so that the
	// next run backfills it from since.
	unavailable bool
	marker      load.WatermarkKey
	probed      time.Time // when an unavailable stream was last probed
	// Per-parent answers of this run. GitLab answers 404 both for a parent
	// deleted since it was listed and, on some versions, for an unlicensed
	// stream: only several 404s without one success mean "unlicensed".
	succeeded, notFound int
}

// notFoundsForUnavailable is how many 404s, with no success, make an
// optional stream count as not licensed here.
const notFoundsForUnavailable = 3

// unavailableSuffix marks the watermark row that remembers an unlicensed stream.
const unavailableSuffix = "#unavailable"

// clearedMarker is the marker's value once the stream answered again.
var clearedMarker = time.Unix(0, 0).UTC()

// parentsUnit lists the parents updated since the oldest of its families'
// watermarks (less the overlap; the full history on a first run), pages
// each family's events for every parent that changed since that family's
// watermark, and stores them. Each family's watermark becomes the newest
// updated_at listed, written with the family's last rows.
func (r *Runner) parentsUnit(pl config.Pipeline, scope, kind string, list lister, fams []family) unit {
	return unit{scope: scope, run: func(ctx context.Context) error {
		states := make([]*famState, len(fams))
		listFrom := time.Time{}
		first := true
		for i, f := range fams {
			st := &famState{family: f, key: load.WatermarkKey{Pipeline: pl.Name, Scope: scope, Stream: kind + "/" + f.stream}}
			wm, ok, err := r.Warehouse.Watermark(ctx, st.key)
			if err != nil {
				return fatal(err)
			}
			wm, ok = r.trusted(st.key, wm, ok)
			if ok {
				st.wm = wm
			}
			st.marker = load.WatermarkKey{Pipeline: pl.Name, Scope: scope, Stream: st.key.Stream + unavailableSuffix}
			if f.optional && !ok {
				probed, marked, err := r.Warehouse.Watermark(ctx, st.marker)
				if err != nil {
					return fatal(err)
				}
				st.unavailable = marked && probed.After(clearedMarker)
				st.probed = probed
			}
			from := pl.Since
			if ok {
				from = wm.Add(-pl.Overlap)
			}
			st.b = transform.NewBuilder(r.Mem, f.table, r.Meta)
			defer st.b.Release()
			states[i] = st
			if st.unavailable {
				continue // probed on changed parents only; see famState.unavailable
			}
			if first || from.Before(listFrom) {
				listFrom, first = from, false
			}
		}
		if first {
			// Every family is marked unavailable: probe the parents that
			// changed since the last probe.
			for _, st := range states {
				if from := st.probed.Add(-pl.Overlap); first || from.Before(listFrom) {
					listFrom, first = from, false
				}
			}
		}
		var (
			mu      sync.Mutex // guards builders, refs and newest
			refs    = transform.NewRefs()
			newest  time.Time
			handled = map[int64]time.Time{} // parent id → updated_at already fetched in this run
		)
		prog := r.Progress.stream(kind)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.Concurrency)
		listErr := list(gctx, listFrom, func(ps []parentRef) error {
			prog.page(len(ps))
			for _, p := range ps {
				if u, ok := handled[p.ID]; ok && !p.UpdatedAt.After(u) {
					continue // delivered again by the inclusive cursor
				}
				handled[p.ID] = p.UpdatedAt
				// A future-dated parent is read like any changed one but
				// cannot be the watermark: see Runner.future.
				if !r.future(pl.Name, scope, kind, p.UpdatedAt) {
					mu.Lock()
					if p.UpdatedAt.After(newest) {
						newest = p.UpdatedAt
					}
					mu.Unlock()
				}
				for _, st := range states {
					if !st.wm.IsZero() && p.UpdatedAt.Before(st.wm.Add(-pl.Overlap)) {
						continue
					}
					fp := r.Progress.stream(st.stream)
					fp.queue()
					g.Go(func() error {
						return r.guarded(func() error {
							defer fp.parent()
							mu.Lock()
							off := st.disabled
							mu.Unlock()
							if off {
								return nil
							}
							rows := 0
							err := st.read(gctx, r.Client, p.Parent, pl.Since, func(n int, add func(*transform.Builder, *transform.Refs)) error {
								if rows += n; rows > r.MaxParentRows {
									return fmt.Errorf("%w: more than %d %s rows for one parent; refusing to go on", errTooManyRows, r.MaxParentRows, st.stream)
								}
								mu.Lock()
								defer mu.Unlock()
								add(st.b, refs)
								if st.b.Len() >= r.BatchRows {
									return r.flush(gctx, st.b, refs)
								}
								return nil
							})
							mu.Lock()
							defer mu.Unlock()
							switch {
							case err == nil:
								st.succeeded++
							case st.optional && errors.Is(err, extract.ErrForbidden),
								st.optional && errors.Is(err, extract.ErrNotFound) && st.succeeded == 0 && st.notFound+1 >= notFoundsForUnavailable:
								st.disabled = true
								r.warnOnce(pl.Name, scope, st.stream, "stream not available here (not licensed or not allowed); skipped", err)
							case errors.Is(err, extract.ErrNotFound):
								// Deleted or hidden since it was listed: nothing (more) to read.
								st.notFound++
								r.Log.Debug("parent gone", "scope", scope, "parent", p.Type, "iid", p.IID, "stream", st.stream)
							case isFatal(gctx, err):
								return err
							default:
								return fmt.Errorf("%s %s iid %d: %w", kind, st.stream, p.IID, err)
							}
							return nil
						})
					})
				}
			}
			return nil
		})
		if err := g.Wait(); err != nil {
			return err
		}
		if listErr != nil {
			if len(states) > 0 && allOptional(states) && optional(listErr) {
				for _, st := range states {
					r.warnOnce(pl.Name, scope, st.stream, "stream not available here (not licensed or not allowed); skipped", listErr)
				}
				return nil
			}
			return fmt.Errorf("listing %s: %w", kind, listErr)
		}
		for _, st := range states {
			var marks []load.Watermark
			switch {
			case st.disabled:
				// Found (again) not licensed: remember it, and when.
				marks = append(marks, load.Watermark{WatermarkKey: st.marker, Value: r.Meta.ExtractedAt.UTC()})
			case st.unavailable && st.succeeded == 0:
				// No changed parent to probe it on this time.
			case st.unavailable:
				// It answered again (licensed since): clear the marker so
				// that the next run backfills it; no watermark yet, since
				// only the changed parents were read.
				marks = append(marks, load.Watermark{WatermarkKey: st.marker, Value: clearedMarker})
			default:
				v := newest
				if st.wm.After(v) {
					v = st.wm
				}
				if !v.IsZero() {
					marks = append(marks, load.Watermark{WatermarkKey: st.key, Value: v})
				}
			}
			if err := r.flush(ctx, st.b, refs, marks...); err != nil {
				return err
			}
		}
		return nil
	}}
}

func allOptional(states []*famState) bool {
	for _, st := range states {
		if !st.optional {
			return false
		}
	}
	return true
}

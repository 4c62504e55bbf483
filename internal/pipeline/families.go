package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// family binds a stream read per parent (the resource-event streams and
// activity) of schemas.Streams to the Go types
// that read and flatten it. The stream's facts (family name, parent kinds,
// Premium) come from schemas; only the types are added here, because
// schemas cannot know extract's and transform's.
type family struct {
	schemas.Stream
	// read pages p's events and hands each page to emit as its row count
	// and a function that appends those created at or after since to b.
	// Pages are emitted as they arrive, so a parent's events are never all
	// in memory at once; emit runs on the reading worker and takes the
	// unit's lock itself, so that workers fetch in parallel while one at a
	// time touches the builder.
	read func(ctx context.Context, c *extract.Client, p extract.Parent, since time.Time, emit func(n int, add appender) error) error
}

// appender adds rows to a unit's builder, and the dimension rows they
// reference to refs.
type appender func(b *transform.Builder, refs *transform.Referenced)

func bind[T any, P extract.Row[T]](s schemas.Stream, created func(*T) time.Time,
	add func(*transform.Builder, *transform.Referenced, extract.Parent, *T)) family {
	return family{Stream: s,
		read: func(ctx context.Context, c *extract.Client, p extract.Parent, since time.Time, emit func(int, appender) error) error {
			return extract.ParentRows[T, P](ctx, c, p, s.Sub(), nil, func(rows []T) error {
				return emit(len(rows), func(b *transform.Builder, refs *transform.Referenced) {
					for i := range rows {
						if !created(&rows[i]).Before(since) {
							add(b, refs, p, &rows[i])
						}
					}
				})
			})
		}}
}

// bindings lists a family for every stream read per parent. r is the run
// the activity family resolves usernames for; nil (the planner) reads
// without resolving them.
func bindings(r *Runner) []family {
	return []family{
		bind(schemas.LabelEventsStream, func(e *extract.LabelEvent) time.Time { return e.CreatedAt }, transform.AppendLabelEvent),
		bind(schemas.StateEventsStream, func(e *extract.StateEvent) time.Time { return e.CreatedAt }, transform.AppendStateEvent),
		bind(schemas.MilestoneEventsStream, func(e *extract.MilestoneEvent) time.Time { return e.CreatedAt }, transform.AppendMilestoneEvent),
		bind(schemas.IterationEventsStream, func(e *extract.IterationEvent) time.Time { return e.CreatedAt }, transform.AppendIterationEvent),
		bind(schemas.WeightEventsStream, func(e *extract.WeightEvent) time.Time { return e.CreatedAt }, transform.AppendWeightEvent),
		bindActivity(r),
	}
}

// bindActivity is the activity family: a parent's notes, of which only
// system notes created at or after since become rows. Each page's bodies
// are parsed, and the usernames they name resolved, on the reading worker
// before emit, so that lookups run in parallel and outside the unit's
// lock.
func bindActivity(r *Runner) family {
	return family{Stream: schemas.ActivityStream,
		read: func(ctx context.Context, c *extract.Client, p extract.Parent, since time.Time, emit func(int, appender) error) error {
			return extract.Notes(ctx, c, p, func(rows []extract.ParentNote) error {
				acts, found, err := activityRows(ctx, r, rows, since)
				if err != nil {
					return fmt.Errorf("notes of %s iid %d: %w", p.Type, p.IID, err)
				}
				// The page's system notes are its rows: comments are not this
				// stream's (so the planner's row estimate leaves them out).
				system := 0
				for i := range rows {
					if rows[i].IsSystem() {
						system++
					}
				}
				return emit(system, func(b *transform.Builder, refs *transform.Referenced) {
					for i := range acts {
						transform.AppendActivity(b, refs, p, acts[i])
					}
					for i := range found {
						refs.AddUser(&found[i])
					}
				})
			})
		}}
}

// activityRows parses the system notes of a page created at or after
// since and, with r, resolves the usernames they name; it also returns the
// users the API answered with, for the users dimension.
func activityRows(ctx context.Context, r *Runner, rows []extract.ParentNote, since time.Time) ([]transform.ActivityRow, []extract.User, error) {
	var acts []transform.ActivityRow
	var names []string
	for i := range rows {
		n := &rows[i]
		if !n.IsSystem() || n.CreatedAt.Before(since) {
			continue
		}
		var body string
		if n.Body != nil {
			body = *n.Body
		}
		a := transform.ActivityRow{Note: n, Parsed: transform.ParseSystemNote(body)}
		names = append(names, a.Parsed.Usernames...)
		acts = append(acts, a)
	}
	if r == nil || len(names) == 0 {
		return acts, nil, nil
	}
	ids, found, err := r.names().resolve(ctx, names)
	if err != nil {
		return nil, nil, err
	}
	k := 0
	for i := range acts {
		n := len(acts[i].Parsed.Usernames)
		acts[i].IDs = ids[k : k+n]
		k += n
	}
	return acts, found, nil
}

// familiesOf returns the families pipeline pl reads for parents of kind k,
// in stream order, bound to run r (nil: see bindings). A stream declared in schemas without a binding here is
// a programming error, reported rather than silently not read.
func familiesOf(pl config.Pipeline, k schemas.ParentKind, r *Runner) ([]family, error) {
	bound := bindings(r)
	var out []family
	for _, s := range schemas.Streams() {
		if !s.Reads(k) || !pl.HasStream(s) {
			continue
		}
		i := -1
		for j := range bound {
			if bound[j].Name() == s.Name() {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("internal error: stream %s has no reader", s.Name())
		}
		out = append(out, bound[i])
	}
	return out, nil
}

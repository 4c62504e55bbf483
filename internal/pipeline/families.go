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

// family binds a resource-event stream of schemas.Streams to the Go types
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
			return extract.ResourceEvents[T, P](ctx, c, p, s.Family, func(rows []T) error {
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

// bindings lists a family for every resource-event stream.
func bindings() []family {
	return []family{
		bind(schemas.LabelEventsStream, func(e *extract.LabelEvent) time.Time { return e.CreatedAt }, transform.AppendLabelEvent),
		bind(schemas.StateEventsStream, func(e *extract.StateEvent) time.Time { return e.CreatedAt }, transform.AppendStateEvent),
		bind(schemas.MilestoneEventsStream, func(e *extract.MilestoneEvent) time.Time { return e.CreatedAt }, transform.AppendMilestoneEvent),
		bind(schemas.IterationEventsStream, func(e *extract.IterationEvent) time.Time { return e.CreatedAt }, transform.AppendIterationEvent),
		bind(schemas.WeightEventsStream, func(e *extract.WeightEvent) time.Time { return e.CreatedAt }, transform.AppendWeightEvent),
	}
}

// familiesOf returns the families pipeline pl reads for parents of kind k,
// in stream order. A stream declared in schemas without a binding here is
// a programming error, reported rather than silently not read.
func familiesOf(pl config.Pipeline, k schemas.ParentKind) ([]family, error) {
	bound := bindings()
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

package pipeline

import (
	"context"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// eventsOverlapDays is how many whole days before the watermark's day an
// incremental run re-reads. GitLab's after=D drops all of day D, and D is
// a day in the *server's* time zone, so asking for after=(watermark day - 2)
// covers the watermark's whole day in any zone; re-read rows are dropped
// by id in the warehouse.
const eventsOverlapDays = 2

// eventsUnit reads one Events API source from its watermark on.
func (r *Runner) eventsUnit(pl config.Pipeline, src extract.EventSource) unit {
	stream := schemas.EventsStream.Name()
	key := load.WatermarkKey{Pipeline: pl.Name, Scope: src.String(), Stream: stream}
	return unit{scope: src.String(), run: func(ctx context.Context) error {
		wm, ok, err := r.Warehouse.Watermark(ctx, key)
		if err != nil {
			return fatal(err)
		}
		wm, ok = r.trusted(key, wm, ok)
		from := pl.Since
		if ok && wm.After(from) {
			from = wm
		}
		afterDay := from.UTC().Truncate(24*time.Hour).AddDate(0, 0, -eventsOverlapDays)
		b := transform.NewBuilder(r.Mem, schemas.Events, r.Meta)
		defer b.Release()
		refs := transform.NewReferenced()
		newest := wm
		st := r.Counters.stream(stream)
		err = r.Client.Events(ctx, src, afterDay, func(evs []extract.Event) error {
			st.page(len(evs))
			for i := range evs {
				e := &evs[i]
				if e.CreatedAt.Before(pl.Since) {
					continue
				}
				transform.AppendEvent(b, refs, e)
				if !r.future(pl.Name, src.String(), stream, e.CreatedAt) && e.CreatedAt.After(newest) {
					newest = e.CreatedAt
				}
			}
			if r.full(b) {
				return r.flush(ctx, b, refs)
			}
			return nil
		})
		if err != nil {
			return err
		}
		var marks []load.Watermark
		if !newest.IsZero() {
			marks = append(marks, load.Watermark{WatermarkKey: key, Value: newest})
		}
		return r.flush(ctx, b, refs, marks...)
	}}
}

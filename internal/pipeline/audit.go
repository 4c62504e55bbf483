package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// auditSettled is how long after a window's end no audit event can still
// arrive in it: GitLab writes an audit event with the change it records
// (or from a job seconds later), never a day late. A window settled when
// it was read is recorded as finished, and the watermark may pass it even
// when it held no row.
const auditSettled = 24 * time.Hour

// auditUnit reads one scope's audit events (a project's, a group's or the
// instance's) from its watermark on, in windows of at most 30 days read
// in parallel, each by keyset pages newest first.
//
// Newest first means a window's rows come in the opposite order of the
// watermark, so the watermark cannot move page by page: rows are stored
// in batches as they come, a settled window is recorded (load.Window)
// with its last rows once it is wholly read, so that a stopped run reads
// only the windows it had not finished, and the watermark moves only when
// every window is stored. It moves to the newest row stored, or, if later,
// to the start of the first window that had not settled: created_after
// is inclusive, so the next run reads that instant again (rows already
// stored are dropped by id) and a row GitLab adds at it is not missed.
//
// The first window is read alone: where GitLab refuses the stream (403 or
// 404: not licensed, no role, not an administrator) that costs one
// request, not one per worker; the refusal is a warning, remembered in
// _labtrail_availability, and each later run probes it again with one
// request.
func (r *Runner) auditUnit(pl config.Pipeline, scope extract.AuditScope) unit {
	key := load.WatermarkKey{Pipeline: pl.Name, Scope: scope.String(), Stream: schemas.AuditEventsStream.Name()}
	return r.windowedUnit(pl, key, schemas.AuditEvents, func(ctx context.Context, w *windowed, from time.Time, done []load.Window) error {
		a, found, err := r.Warehouse.Availability(ctx, key)
		if err != nil {
			return fatal(err)
		}
		now := r.Client.ServerNow()
		u := &auditRun{windowed: w, scope: scope, settled: now.Add(-auditSettled),
			lic: licence{premium: true, scoped: true, wasRefused: found && !a.Available}}
		return u.run(ctx, auditWindows(from, done, now))
	})
}

// auditWindows are the windows a run reads from the instant from to now:
// the days an earlier run did not finish (see remaining), each span split
// into windows GitLab accepts (extract.AuditWindows). The first starts at
// from itself, not at its day's midnight: the watermark covers that day's
// earlier rows. A span that ends where a finished window begins ends at
// that day's end, not at its 30th.
func auditWindows(from time.Time, done []load.Window, now time.Time) []extract.AuditWindow {
	var out []extract.AuditWindow
	for _, d := range remaining(from.UTC().Truncate(day), done) {
		start := d.First
		if start.Before(from) {
			start = from
		}
		if d.Last.IsZero() {
			out = append(out, extract.AuditWindows(start, now)...)
			continue
		}
		end := d.Last.Add(day - extract.AuditResolution)
		ws := extract.AuditWindows(start, end)
		if len(ws) > 0 {
			ws[len(ws)-1].Until = end
		}
		out = append(out, ws...)
	}
	return out
}

// auditRun is one run of an audit unit.
type auditRun struct {
	*windowed
	scope   extract.AuditScope
	settled time.Time // windows that end before it are settled
	lic     licence   // under mu
}

func (u *auditRun) run(ctx context.Context, windows []extract.AuditWindow) error {
	if len(windows) == 0 {
		return nil
	}
	_, err := u.read(ctx, windows[0])
	if err == nil {
		err = drain(ctx, u.r.Concurrency, windows[1:], u.read)
	}
	u.mu.Lock()
	v := u.lic.observe(err)
	u.mu.Unlock()
	switch {
	case err == nil:
	case v == refused:
		u.r.warnOnce(u.pl.Name, u.key.Scope, u.key.Stream, notLicensedMsg, err)
	case isFatal(ctx, err):
		return err
	default:
		return fmt.Errorf("audit events: %w", err)
	}
	move, avail := u.lic.settle(u.key, u.r.Meta.ExtractedAt.UTC())
	var value time.Time
	if move {
		value = u.watermark(windows)
	}
	if err := u.finish(ctx, value); err != nil {
		return err
	}
	if avail != nil {
		if err := u.r.Warehouse.SetAvailability(ctx, *avail); err != nil {
			return fatal(err)
		}
	}
	return nil
}

// read reads window w; once wholly read, a settled window is recorded
// with its last rows.
func (u *auditRun) read(ctx context.Context, w extract.AuditWindow) ([]extract.AuditWindow, error) {
	var newest time.Time
	err := u.r.Client.AuditEvents(ctx, u.scope, w, func(es []extract.AuditEvent) error {
		return addPage(ctx, u.windowed, es, func(e *extract.AuditEvent) time.Time { return e.CreatedAt },
			func(e *extract.AuditEvent) { transform.AppendAuditEvent(u.b, e) }, &newest)
	})
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	u.lic.observe(nil)
	u.mu.Unlock()
	if !w.Until.Before(u.settled) {
		return nil, nil // rows may still arrive in it: recorded by the watermark only
	}
	return nil, u.record(ctx, load.Window{WatermarkKey: u.key, First: w.From.UTC().Truncate(day),
		Last: w.Until.UTC().Truncate(day), Newest: newest})
}

// watermark is where the stream's watermark moves once every window is
// stored: the newest row stored, or the start of the first window read
// that had not settled, whichever is later. Every row before that start
// was in a window read whole after it settled, in this run or (recorded)
// an earlier one.
func (u *auditRun) watermark(windows []extract.AuditWindow) time.Time {
	v := u.newest
	for _, w := range windows {
		if !w.Until.Before(u.settled) {
			if w.From.After(v) {
				v = w.From
			}
			break
		}
	}
	return v
}

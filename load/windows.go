package load

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Window is a finished part of a stream's listing that was read in
// windows: every row the stream has on the days First to Last (inclusive,
// as the server counts days; for audit events, UTC days), from the
// stream's watermark on, is stored (a window that starts at the watermark
// records the watermark's day as First). It is committed with the
// window's last rows (pass it to AppendFacts), so that a run that stops
// half way re-reads only the windows it had not finished; the stream's
// next Watermark forgets its windows.
type Window struct {
	WatermarkKey
	First, Last time.Time // days: only the date counts
	// Newest is the newest row time in the window that may move the
	// watermark (zero: none), so that the watermark written when the
	// last window finishes covers windows finished by an earlier run.
	Newest time.Time
}

func (m Window) check() error {
	if m.First.IsZero() || m.Last.Before(m.First) {
		return fmt.Errorf("load: window %s/%s/%s: days %s to %s", m.Pipeline, m.Scope, m.Stream,
			m.First.Format(time.DateOnly), m.Last.Format(time.DateOnly))
	}
	return nil
}

func (m Window) addTo(s *markSet) { s.addWindow(m) }

// Windows returns the finished windows of k, by first day. Their days are
// UTC midnights.
func (w *Warehouse) Windows(ctx context.Context, k WatermarkKey) ([]Window, error) {
	defer w.reading()()
	if w.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := w.db.QueryContext(ctx, `SELECT strftime(first_day, '%Y-%m-%d'), strftime(last_day, '%Y-%m-%d'), newest
		FROM _labtrail_windows WHERE pipeline = ? AND scope = ? AND stream = ? ORDER BY first_day`, k.Pipeline, k.Scope, k.Stream)
	if err != nil {
		return nil, fmt.Errorf("load: reading windows of %s/%s/%s: %w", k.Pipeline, k.Scope, k.Stream, err)
	}
	defer rows.Close()
	var out []Window
	for rows.Next() {
		win := Window{WatermarkKey: k}
		var first, last string
		var newest sql.NullTime
		if err := rows.Scan(&first, &last, &newest); err != nil {
			return nil, fmt.Errorf("load: reading windows of %s/%s/%s: %w", k.Pipeline, k.Scope, k.Stream, err)
		}
		win.First, _ = time.Parse(time.DateOnly, first)
		win.Last, _ = time.Parse(time.DateOnly, last)
		if newest.Valid {
			win.Newest = newest.Time.UTC()
		}
		out = append(out, win)
	}
	return out, rows.Err()
}

package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Availability is what labtrail last learnt about whether a Premium stream
// answers in a scope. A stream GitLab refuses (403, or 404s with no
// success: not licensed, not allowed) is recorded unavailable so that later
// runs do not widen their parent listings to the whole history on its
// account, and only probe it on parents that changed; once it answers
// again it is recorded available, and the next run backfills it from since.
//
// It is state apart from watermarks because it says nothing about which
// rows are stored: a stream with no row here has simply never been refused.
type Availability struct {
	WatermarkKey           // the stream's key, as for its watermark
	Available    bool      // false: refused when last checked
	CheckedAt    time.Time // when it was last found so (UTC)
	Reason       string    // the refusal, for `labtrail status`; empty when available
}

// legacyMarker and legacyStream find and rename the watermark rows older
// labtrails used for availability.
const (
	legacyMarker = `stream LIKE '%#unavailable'`
	legacyStream = `left(stream, length(stream) - length('#unavailable'))`
	// legacyCleared: the stream answered again; its time is then updated_at.
	legacyCleared   = `"value" <= TIMESTAMPTZ '1970-01-01 00:00:00+00'`
	legacyCheckedAt = `CASE WHEN ` + legacyCleared + ` THEN updated_at ELSE "value" END`
)

// Availability returns what is recorded for k, and whether anything is.
func (w *Warehouse) Availability(ctx context.Context, k WatermarkKey) (Availability, bool, error) {
	defer w.reading()()
	if w.closed.Load() {
		return Availability{}, false, ErrClosed
	}
	a := Availability{WatermarkKey: k}
	var reason sql.NullString
	err := w.db.QueryRowContext(ctx, `SELECT available, checked_at, reason FROM _labtrail_availability
		WHERE pipeline = ? AND scope = ? AND stream = ?`, k.Pipeline, k.Scope, k.Stream).Scan(&a.Available, &a.CheckedAt, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return Availability{}, false, nil
	}
	if err != nil {
		return Availability{}, false, fmt.Errorf("load: reading availability of %s/%s/%s: %w", k.Pipeline, k.Scope, k.Stream, err)
	}
	a.CheckedAt, a.Reason = a.CheckedAt.UTC(), reason.String
	return a, true, nil
}

// SetAvailability records as, in one transaction, replacing what was
// recorded for the same keys. It is not tied to the rows' transactions: a
// record lost to a crash is found again by the next run's probe.
func (w *Warehouse) SetAvailability(ctx context.Context, as ...Availability) error {
	for _, a := range as {
		if a.CheckedAt.IsZero() {
			return fmt.Errorf("load: availability of %s/%s/%s has no time", a.Pipeline, a.Scope, a.Stream)
		}
	}
	if len(as) == 0 {
		return nil
	}
	unlock, err := w.begin()
	if err != nil {
		return err
	}
	defer unlock()
	return w.duck.inTx(ctx, nil, func() error {
		for _, a := range as {
			if _, err := w.conn.ExecContext(ctx, `INSERT OR REPLACE INTO _labtrail_availability
				(pipeline, scope, stream, available, checked_at, reason, run_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				a.Pipeline, a.Scope, a.Stream, a.Available, a.CheckedAt.UTC(), a.Reason, w.runID); err != nil {
				return fmt.Errorf("load: storing availability of %s/%s/%s: %w", a.Pipeline, a.Scope, a.Stream, err)
			}
		}
		return nil
	})
}

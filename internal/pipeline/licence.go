package pipeline

import (
	"errors"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/load"
)

// notFoundsForRefused is how many 404s, with no success, make a Premium
// stream count as not licensed here.
const notFoundsForRefused = 3

// licence follows whether GitLab licenses one Premium stream in one scope,
// from the answers to the parents read in one run. A 403 means "not
// licensed or not allowed" at once. A 404 is ambiguous: GitLab answers it
// both for a parent deleted since it was listed and, on some versions, for
// an unlicensed stream; only several 404s without one success mean
// "unlicensed". For a stream that is not Premium, 403 and 404 are plain
// answers (a 404 a parent gone, a 403 a failure of the scope).
//
// A licence is used by one unit; its caller serialises calls.
type licence struct {
	premium bool
	// scoped: the stream is read from the scope's own endpoint (audit
	// events), not per parent. A 404 there cannot be a parent deleted since
	// it was listed, so it means refused at once, like a 403; and each run
	// reads the stream whole, so an answer after a refusal completes it.
	scoped bool
	// wasRefused: an earlier run recorded the stream refused here and it
	// has no watermark yet; it is then probed on changed parents only.
	wasRefused bool
	lastProbe  time.Time // when it was last found refused (wasRefused only)

	refused             bool   // found not licensed in this run
	reason              string // the answer that showed it
	succeeded, notFound int
}

// verdict is what one parent's answer means for the unit.
type verdict int

const (
	answered verdict = iota // the events were read
	gone                    // 404: the parent was deleted or hidden since it was listed
	refused                 // the stream is not licensed here: skip it, with one warning
	failed                  // any other error: the scope fails
)

// observe classifies the answer err (nil: success) for one parent.
func (l *licence) observe(err error) verdict {
	switch {
	case err == nil:
		l.succeeded++
		return answered
	case l.premium && errors.Is(err, extract.ErrForbidden),
		l.premium && errors.Is(err, extract.ErrNotFound) && (l.scoped || l.succeeded == 0 && l.notFound+1 >= notFoundsForRefused):
		if !l.refused {
			l.refused, l.reason = true, err.Error()
		}
		return refused
	case errors.Is(err, extract.ErrNotFound):
		l.notFound++
		return gone
	default:
		return failed
	}
}

// settle says what the run leaves behind for the stream with key k at time
// now: whether its watermark may move, and what to record about its
// availability (nil: nothing changes).
func (l *licence) settle(k load.WatermarkKey, now time.Time) (moveWatermark bool, rec *load.Availability) {
	switch {
	case l.refused:
		// Found (again) not licensed: remember it, and when.
		return false, &load.Availability{WatermarkKey: k, CheckedAt: now, Reason: l.reason}
	case l.wasRefused && l.succeeded == 0:
		// No changed parent to probe it on this time.
		return false, nil
	case l.wasRefused && l.scoped:
		// It answered again, and was read whole: available, and done.
		return true, &load.Availability{WatermarkKey: k, Available: true, CheckedAt: now}
	case l.wasRefused:
		// It answered again (licensed since): record it available, so
		// that the next run backfills it from since; no watermark yet,
		// since only the changed parents were read.
		return false, &load.Availability{WatermarkKey: k, Available: true, CheckedAt: now}
	default:
		return true, nil
	}
}

package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
)

// auditJob sizes one scope's audit events: keyset pages carry no totals,
// so the cost is a request per 30-day window from where the run starts
// (more where a window holds over 100 rows), found by probing the newest
// window once; a scope GitLab refuses costs the run its one probe.
type auditJob struct {
	scope   extract.AuditScope
	from    time.Time
	windows []extract.AuditWindow
	refused bool // recorded refused, or refused by the probe
	err     error
}

// auditJobs are the pipeline's audit scopes, each starting where
// auditUnit would (the windows an earlier run finished are not counted
// out: the plan reads no windows).
func (p *planner) auditJobs(r *Runner, pl config.Pipeline, s *scopes) []*auditJob {
	now := p.c.ServerNow()
	var out []*auditJob
	for _, sc := range auditScopes(pl, s) {
		k := load.WatermarkKey{Pipeline: pl.Name, Scope: sc.String(), Stream: schemas.AuditEventsStream.Name()}
		from := pl.Since
		if wm, ok := p.watermark(r, k); ok && wm.After(from) {
			from = wm
		}
		a, found := p.state.avail[k]
		out = append(out, &auditJob{scope: sc, from: from, windows: auditWindows(from, nil, now), refused: found && !a.Available})
	}
	return out
}

// errProbed stops a probe after its first page.
var errProbed = errors.New("probed")

// probeAudit reads the first page of the newest window of a scope not
// known to be refused, to learn whether GitLab refuses it.
func (p *planner) probeAudit(ctx context.Context, j *auditJob) error {
	if j.refused || len(j.windows) == 0 {
		return nil
	}
	err := p.timed(classEvents, func() error {
		return p.c.AuditEvents(ctx, j.scope, j.windows[len(j.windows)-1], func([]extract.AuditEvent) error { return errProbed })
	})
	switch {
	case err == nil, errors.Is(err, errProbed):
		return nil
	case notLicensed(err):
		j.refused = true
		return nil
	}
	return err
}

// addTo adds the scope's audit cost to sp.
func (j *auditJob) addTo(sp *ScopePlan) {
	name := schemas.AuditEventsStream.Name()
	if j.refused {
		sp.Unavailable = append(sp.Unavailable, name)
		sp.add(name, Cost{Requests: 1, From: j.from, Basis: "unavailable"}, false)
		return
	}
	sp.add(name, Cost{Requests: int64(len(j.windows)), From: j.from, Basis: "windows"}, false)
}

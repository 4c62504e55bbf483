package pipeline

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
)

// availability is what is known of a family in a scope before any probe.
type availability int

const (
	availableKnown availability = iota // it has a watermark, answered again, or is not Premium
	refusedKnown                       // a run recorded it refused and it has no watermark since
	unknownAvail                       // Premium, never read here: probed
)

type famPlan struct {
	family
	from    time.Time // the run reads parents updated at or after this; zero: every listed one
	avail   availability
	changed int64 // parents the run reads it for
}

type listingJob struct {
	kind    schemas.ParentKind
	scopeID int64
	scope   string
	ns      string // top-level namespace: where GitLab licenses Premium streams
	fams    []*famPlan
	from    time.Time // where the listing starts

	listed  int64
	first   []extract.ListedParent // page 1 of the listing
	basis   string
	refused error // the listing itself answered 403/404 (epics on Free)
	err     error
}

// listingJobs are the pipeline's parent listings, each starting where
// parentsUnit.open would, with its families' watermarks and what is
// recorded of their availability.
func (p *planner) listingJobs(r *Runner, pl config.Pipeline, s *scopes) ([]*listingJob, error) {
	type owner struct {
		id   int64
		path string
	}
	owners := map[schemas.ScopeKind][]owner{}
	for _, pr := range s.projects {
		owners[schemas.ScopeProject] = append(owners[schemas.ScopeProject], owner{pr.ID, pr.PathWithNamespace})
	}
	for _, g := range s.epicGroups {
		owners[schemas.ScopeGroup] = append(owners[schemas.ScopeGroup], owner{g.ID, g.FullPath})
	}
	var out []*listingJob
	for _, k := range schemas.ParentKinds() {
		fams, err := familiesOf(pl, k, nil)
		if err != nil {
			return nil, err
		}
		for _, o := range owners[k.Scope()] {
			if len(fams) == 0 {
				break
			}
			ns, _, _ := strings.Cut(o.path, "/")
			j := &listingJob{kind: k, scopeID: o.id, scope: k.Scope().Key(o.id), ns: ns}
			j.open(p, r, pl, fams)
			out = append(out, j)
		}
	}
	return out, nil
}

// open sets each family's start and availability, and the listing's start,
// as parentsUnit.open does.
func (j *listingJob) open(p *planner, r *Runner, pl config.Pipeline, fams []family) {
	var from, probeFrom []time.Time
	for _, f := range fams {
		fp := &famPlan{family: f}
		j.fams = append(j.fams, fp)
		key := load.WatermarkKey{Pipeline: pl.Name, Scope: j.scope, Stream: j.kind.Table().Name + "/" + f.Name()}
		if wm, ok := p.watermark(r, key); ok {
			fp.from = wm.Add(-pl.Overlap)
			from = append(from, fp.from)
			continue
		}
		if f.Optional(j.kind) {
			a, found := p.state.avail[key]
			switch {
			case found && !a.Available:
				fp.avail = refusedKnown
				probeFrom = append(probeFrom, a.CheckedAt.Add(-pl.Overlap))
				continue
			case !found:
				fp.avail = unknownAvail
			}
		}
		fp.from = pl.Since
		from = append(from, pl.Since)
	}
	if len(from) == 0 {
		from = probeFrom
	}
	j.from = oldest(from)
}

// premiumOnly reports whether only Premium families depend on the listing,
// so that a 403/404 on it means "not licensed here".
func (j *listingJob) premiumOnly() bool {
	for _, f := range j.fams {
		if !f.Optional(j.kind) {
			return false
		}
	}
	return len(j.fams) > 0
}

func (p *planner) parentsExtent(ctx context.Context, k schemas.ParentKind, scopeID int64, since, until time.Time) (ext extract.Extent, rows []extract.ListedParent, err error) {
	err = p.timed(classListings, func() error {
		ext, rows, err = p.c.ParentsExtent(ctx, k, scopeID, since, until)
		return err
	})
	return ext, rows, err
}

// countParents counts the parents of j's kind and scope updated at or
// after since: GitLab's totals or, past 10,000, a sum over time windows.
func (p *planner) countParents(ctx context.Context, j *listingJob, since time.Time) (n int64, first []extract.ListedParent, basis string, err error) {
	ext, first, err := p.parentsExtent(ctx, j.kind, j.scopeID, since, time.Time{})
	if err != nil || ext.Known() {
		return ext.Total, first, "totals", err
	}
	lo := since.UTC().Truncate(time.Millisecond)
	if len(first) > 0 {
		lo = latest(lo, first[0].UpdatedAt.UTC().Truncate(time.Millisecond))
	}
	whole := span{lo: lo, hi: latest(p.c.ServerNow().UTC().Truncate(time.Millisecond), lo), last: true}
	n, how, err := sizeBySplitting(ctx, whole, time.Millisecond, maxCountProbes, func(ctx context.Context, s span) (extract.Extent, error) {
		until := s.hi
		if s.last {
			until = time.Time{}
		}
		ext, _, err := p.parentsExtent(ctx, j.kind, j.scopeID, s.lo, until)
		return ext, err
	})
	return n, first, windowBasis("time_windows", how), err
}

// sizeListing counts the parents the listing brings and, for each family
// whose watermark is newer than the listing's start, the parents changed
// since that watermark (less overlap).
func (p *planner) sizeListing(ctx context.Context, j *listingJob) error {
	n, first, basis, err := p.countParents(ctx, j, j.from)
	if err != nil {
		if j.premiumOnly() && notLicensed(err) {
			j.refused = err
			return nil
		}
		return err
	}
	j.listed, j.first, j.basis = n, first, basis
	counts := map[int64]int64{j.from.UnixNano(): n}
	for _, f := range j.fams {
		if f.from.IsZero() {
			f.changed = n
			continue
		}
		c, ok := counts[f.from.UnixNano()]
		if !ok {
			if c, _, _, err = p.countParents(ctx, j, f.from); err != nil {
				return err
			}
			counts[f.from.UnixNano()] = c
		}
		f.changed = c
	}
	return nil
}

// ---- sampled parents ----

// sample is one parent whose events of one family the plan reads: for the
// rows and pages per parent, and, for a Premium family nothing is known
// about, as the probe of its namespace.
type sample struct {
	job     *listingJob
	fam     *famPlan
	rows    int64
	pages   int64
	refused error // 403/404
	err     error
}

// chooseSamples picks, per parent kind and family, the middle parent of
// the first samplesPerFamily listings' first pages, plus one parent per
// top-level namespace for each Premium family of unknown availability.
func chooseSamples(lists []*listingJob) []*sample {
	var out []*sample
	taken := map[string]int{}
	probed := map[string]bool{}
	for _, j := range lists {
		if j.refused != nil || j.err != nil || len(j.first) == 0 {
			continue
		}
		for _, f := range j.fams {
			if f.avail == refusedKnown {
				continue
			}
			kf := string(j.kind) + "/" + f.Name()
			probe := f.avail == unknownAvail && !probed[j.ns+"/"+kf]
			if !probe && taken[kf] >= samplesPerFamily {
				continue
			}
			if f.avail == unknownAvail {
				probed[j.ns+"/"+kf] = true
			}
			taken[kf]++
			out = append(out, &sample{job: j, fam: f})
		}
	}
	return out
}

// readSample reads the sampled parent's events of the family, all its
// pages, counting them.
func (p *planner) readSample(ctx context.Context, sm *sample) error {
	parent := sm.job.first[len(sm.job.first)/2].Parent
	start := time.Now()
	err := sm.fam.read(ctx, p.c, parent, time.Time{}, func(n int, _ appender) error {
		sm.rows += int64(n)
		sm.pages++
		return nil
	})
	p.record(classResource, time.Since(start)/time.Duration(max(sm.pages, 1)))
	if notLicensed(err) {
		sm.refused = err
		return nil
	}
	return err
}

// perParent is the average rows and pages of one family's events of one
// parent, over its samples.
type perParent struct {
	rows, pages float64
	n           int
}

func averages(samples []*sample) map[string]perParent {
	out := map[string]perParent{}
	for _, sm := range samples {
		if sm.err != nil || sm.refused != nil {
			continue
		}
		k := string(sm.job.kind) + "/" + sm.fam.Name()
		a := out[k]
		a.rows = (a.rows*float64(a.n) + float64(sm.rows)) / float64(a.n+1)
		a.pages = (a.pages*float64(a.n) + float64(sm.pages)) / float64(a.n+1)
		a.n++
		out[k] = a
	}
	return out
}

// refusal is what the samples say about f in j: the refusal of its own
// sample, or else of the first sample of its namespace; nil: it answered
// (or nothing was learnt, and then it has no parent to read anyway).
func (j *listingJob) refusal(f *famPlan, samples []*sample) error {
	var nsVerdict error
	nsSeen := false
	for _, sm := range samples {
		if sm.fam.Name() != f.Name() || sm.job.kind != j.kind || sm.err != nil {
			continue
		}
		if sm.job == j {
			return sm.refused
		}
		if sm.job.ns == j.ns && !nsSeen {
			nsVerdict, nsSeen = sm.refused, true
		}
	}
	return nsVerdict
}

// addTo adds the listing's cost and its families' to sp.
func (j *listingJob) addTo(sp *ScopePlan, samples []*sample, avg map[string]perParent) {
	name := j.kind.Table().Name
	if j.refused != nil {
		sp.add(name, Cost{Requests: 1, From: j.from, Basis: "unavailable"}, true)
		for _, f := range j.fams {
			sp.Unavailable = append(sp.Unavailable, f.Name())
			sp.add(f.Name(), Cost{From: j.from, Basis: "unavailable"}, false)
		}
		return
	}
	sp.Parents[name] += j.listed
	sp.add(name, Cost{Requests: parentListingRequests(j.listed), Rows: j.listed, From: j.from, Basis: j.basis}, true)
	for _, f := range j.fams {
		from := f.from
		if from.IsZero() {
			from = j.from
		}
		refused := f.avail == refusedKnown
		if f.avail == unknownAvail {
			refused = j.refusal(f, samples) != nil
		}
		if refused {
			sp.Unavailable = append(sp.Unavailable, f.Name())
			sp.add(f.Name(), Cost{Requests: min(f.changed, refusedRequests), From: from, Basis: "unavailable"}, false)
			continue
		}
		a, ok := avg[string(j.kind)+"/"+f.Name()]
		c := Cost{Requests: f.changed, From: from, Basis: "unsampled"}
		if ok {
			c.Requests = int64(math.Round(float64(f.changed) * max(a.pages, 1)))
			c.Rows = int64(math.Round(float64(f.changed) * a.rows))
			c.Basis = "sampled"
		}
		sp.add(f.Name(), c, false)
	}
}

// parentListingRequests is what listing n parents costs a run: its cursor
// restarts at page 1 after every page, where the parents at the cursor
// come again (updated_after is inclusive), so every page after the first
// brings pageRows-1 new ones.
func parentListingRequests(n int64) int64 {
	if n <= pageRows {
		return 1
	}
	return 1 + ceilDiv(n-pageRows, pageRows-1)
}

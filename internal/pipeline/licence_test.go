package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
)

// The licence state machine on its own: per-parent answers in, verdicts
// and what the run leaves behind out.
func TestLicence(t *testing.T) {
	forbidden := fmt.Errorf("GET x: %w", extract.ErrForbidden)
	notFound := fmt.Errorf("GET x: %w", extract.ErrNotFound)
	other := fmt.Errorf("GET x: status 500")
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	k := load.WatermarkKey{Pipeline: "p", Scope: "project:1", Stream: "issues/weight_events"}
	type outcome struct {
		move  bool
		avail *load.Availability
	}
	refusedNow := &load.Availability{WatermarkKey: k, CheckedAt: now, Reason: forbidden.Error()}
	available := &load.Availability{WatermarkKey: k, Available: true, CheckedAt: now}
	for _, tc := range []struct {
		name       string
		premium    bool
		scoped     bool
		wasRefused bool
		answers    []error
		verdicts   []verdict
		want       outcome
	}{
		{"core stream: answers move the watermark", false, false, false, []error{nil, nil}, []verdict{answered, answered}, outcome{move: true}},
		{"core stream: 404 is a parent gone", false, false, false, []error{notFound, notFound, notFound, notFound}, []verdict{gone, gone, gone, gone}, outcome{move: true}},
		{"core stream: 403 fails", false, false, false, []error{forbidden}, []verdict{failed}, outcome{move: true}},
		{"premium: 403 refuses at once", true, false, false, []error{nil, forbidden}, []verdict{answered, refused}, outcome{avail: refusedNow}},
		{"premium: a few 404s are parents gone", true, false, false, []error{notFound, notFound, nil}, []verdict{gone, gone, answered}, outcome{move: true}},
		{"premium: three 404s and no success refuse", true, false, false, []error{notFound, notFound, notFound}, []verdict{gone, gone, refused},
			outcome{avail: &load.Availability{WatermarkKey: k, CheckedAt: now, Reason: notFound.Error()}}},
		{"premium: 404s after a success are parents gone", true, false, false, []error{nil, notFound, notFound, notFound}, []verdict{answered, gone, gone, gone}, outcome{move: true}},
		{"premium: other errors fail", true, false, false, []error{other}, []verdict{failed}, outcome{move: true}},
		{"refused before, nothing to probe", true, false, true, nil, nil, outcome{}},
		{"refused before, refused again", true, false, true, []error{forbidden}, []verdict{refused}, outcome{avail: refusedNow}},
		{"refused before, answers again", true, false, true, []error{nil}, []verdict{answered}, outcome{avail: available}},
		{"scoped: a 404 refuses at once", true, true, false, []error{notFound}, []verdict{refused},
			outcome{avail: &load.Availability{WatermarkKey: k, CheckedAt: now, Reason: notFound.Error()}}},
		{"scoped: refused before, answers again and is done", true, true, true, []error{nil, nil}, []verdict{answered, answered},
			outcome{move: true, avail: available}},
		{"scoped: refused before, refused again", true, true, true, []error{forbidden}, []verdict{refused}, outcome{avail: refusedNow}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := licence{premium: tc.premium, scoped: tc.scoped, wasRefused: tc.wasRefused}
			for i, err := range tc.answers {
				if v := l.observe(err); v != tc.verdicts[i] {
					t.Errorf("answer %d (%v): verdict %d, want %d", i, err, v, tc.verdicts[i])
				}
			}
			move, avail := l.settle(k, now)
			if move != tc.want.move || (avail == nil) != (tc.want.avail == nil) || avail != nil && *avail != *tc.want.avail {
				t.Errorf("settle = %v %+v, want %v %+v", move, avail, tc.want.move, tc.want.avail)
			}
		})
	}
}

// Every resource-event stream declared in schemas has a reader, and a
// pipeline's families for a parent kind follow the declarations.
func TestFamiliesFollowTheStreamRegistry(t *testing.T) {
	all := config.Pipeline{Streams: schemas.StreamNames()}
	for _, k := range schemas.ParentKinds() {
		fams, err := familiesOf(all, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, s := range schemas.Streams() {
			if s.Reads(k) {
				want = append(want, s.Name())
			}
		}
		var got []string
		for _, f := range fams {
			got = append(got, f.Name())
			if f.read == nil {
				t.Errorf("%s: %s has no reader", k, f.Name())
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: families %v, want %v", k, got, want)
		}
	}
	some := config.Pipeline{Streams: []string{"events", "weight_events"}}
	if fams, _ := familiesOf(some, schemas.ParentMergeRequest, nil); len(fams) != 0 {
		t.Errorf("merge requests read %d families for a pipeline without their streams", len(fams))
	}
}

package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/gitlabfake"
)

const toolPipeline = `  - name: tool
    projects: [freeorg/tool]
    since: 2024-01-01
`

// One event and one issue dated a year ahead of the server's clock (a
// clock running fast, an import with wrong dates) are stored, counted and
// warned about, but move no watermark: the next run still finds the real
// new rows. Before the fix the events watermark jumped a year ahead and
// the second run's after= skipped every new event.
func TestFutureDatedRowsDoNotMoveWatermarks(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 21, Scale: smallScale()}, acmePipeline)
	future := time.Now().UTC().Add(365 * 24 * time.Hour).Truncate(time.Millisecond)
	var eventID, issueID int64
	h.fake.Edit(func(d *gitlabfake.Data) {
		tool := d.Project("freeorg/tool")
		last := d.Events[len(d.Events)-1]
		eventID = last.ID + 1_000_000
		d.Events = append(d.Events, gitlabfake.Event{ID: eventID, ProjectID: tool.ID, AuthorID: last.AuthorID,
			Action: "created", ActionName: "opened", CreatedAt: future})
		for i := range d.Issues {
			if d.Issues[i].ProjectID == tool.ID {
				d.Issues[i].UpdatedAt = future
				issueID = d.Issues[i].ID
				break
			}
		}
	})
	res, _ := h.mustRun()
	if res.FutureRows < 2 {
		t.Fatalf("FutureRows = %d, want the event and the issue counted", res.FutureRows)
	}
	// One warning per pipeline, scope and stream: the event is read from
	// the project and from its author's and root's event sources.
	if n := strings.Count(h.logs.String(), "rows dated after the server's clock"); n < 2 || n > 4 {
		t.Errorf("%d warnings about future rows, want one per scope and stream", n)
	}
	h.checkExact(acmeScope(h.fake.Data())) // the future rows are stored too
	limit := time.Now().Add(clockSkew + time.Minute).Unix()
	for _, row := range h.query(`SELECT stream || '|' || epoch("value")::BIGINT FROM _labtrail_watermarks WHERE stream NOT LIKE '%#%'`) {
		stream, v, _ := strings.Cut(row, "|")
		at, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if at > limit {
			t.Errorf("watermark %s moved to %s, past the server's clock", stream, time.Unix(at, 0).UTC())
		}
	}
	if got := h.query(fmt.Sprintf("SELECT count(*) FROM events WHERE id = %d", eventID)); got[0] != "1" {
		t.Errorf("the future-dated event is not stored: %v", got)
	}
	if got := h.query(fmt.Sprintf("SELECT count(*) FROM issues WHERE id = %d", issueID)); got[0] != "1" {
		t.Errorf("the future-dated issue is not stored: %v", got)
	}

	h.fake.AddActivity(22)
	h.mustRun()
	h.checkExact(acmeScope(h.fake.Data()))
}

// A watermark poisoned by an older labtrail (dated in the future) is not
// trusted: the stream is read again from since and the rows it hid are found.
func TestFutureWatermarkFromAnOlderRunIsNotTrusted(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 23, Scale: smallScale()}, acmePipeline)
	h.mustRun()
	h.exec(`UPDATE _labtrail_watermarks SET "value" = now() + INTERVAL 400 DAY`)
	h.fake.AddActivity(24)
	h.mustRun()
	h.checkExact(acmeScope(h.fake.Data()))
	if !strings.Contains(h.logs.String(), "stored watermark is in the future") {
		t.Error("no warning about the distrusted watermark")
	}
}

// A panic inside a run (here: a Runner without a warehouse, a wiring bug)
// is an error the lifecycle can record, not a crash.
func TestPanicInARunIsAnInternalError(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 25, Scale: smallScale()}, toolPipeline)
	client, err := extract.NewClient(extract.Options{BaseURL: h.cfg.GitLab.URL, Token: token, TokenEnv: h.cfg.GitLab.TokenEnv})
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Client: client, Log: slog.New(slog.NewTextHandler(h.logs, nil)), Concurrency: 2}
	_, err = r.Run(context.Background(), h.cfg)
	if err == nil || !strings.Contains(err.Error(), "internal error") || !isFatal(context.Background(), err) {
		t.Fatalf("err = %v, want a fatal internal error", err)
	}
	if !strings.Contains(h.logs.String(), "stack") {
		t.Error("the stack was not logged")
	}
}

// A parent whose resource events never end fails its scope at the row
// bound; what was read is bounded by it, not by the server.
func TestParentRowBoundFailsTheScope(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 26, Scale: smallScale()}, toolPipeline)
	res, _, err := h.runWith(context.Background(), func(j *Job) { j.MaxParentRows = 3 })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) == 0 || !strings.Contains(res.Failures[0].Err.Error(), "more than 3") {
		t.Fatalf("failures = %+v, want the row bound named", res.Failures)
	}
}

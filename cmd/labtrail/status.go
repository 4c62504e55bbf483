package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/labtrail/labtrail/internal/tabular"
	"github.com/labtrail/labtrail/load"
)

// statusRuns is how many of the last runs status shows.
const statusRuns = 10

// cmdStatus prints, per table, its rows and newest created_at, then the
// watermarks, the streams found not available, and the last runs.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("status", stderr, &c)
	if _, err := parse(fs, args); err != nil {
		return exitUsage
	}
	_, db, code := c.openReadOnly(ctx, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	st, err := load.ReadStatus(ctx, db, statusRuns)
	if err != nil {
		oneLine(stderr, err)
		return exitFailed
	}
	for _, s := range statusSections(st) {
		fmt.Fprintf(stdout, "%s\n", s.title)
		if err := tabular.WriteValues(stdout, s.cols, s.rows, tabular.Table); err != nil {
			oneLine(stderr, err)
			return exitFailed
		}
		fmt.Fprintln(stdout)
	}
	return exitOK
}

type section struct {
	title string
	cols  []string
	rows  [][]any
}

func statusSections(st load.Status) []section {
	tables := section{title: "Tables", cols: []string{"table", "rows", "newest_created_at"}}
	for _, t := range st.Tables {
		tables.rows = append(tables.rows, []any{t.Name, t.Rows, orNil(t.NewestCreatedAt)})
	}
	marks := section{title: "Watermarks", cols: []string{"pipeline", "scope", "stream", "watermark", "updated_at"}}
	for _, m := range st.Watermarks {
		marks.rows = append(marks.rows, []any{m.Pipeline, m.Scope, m.Stream, m.Value, m.UpdatedAt})
	}
	avail := section{title: "Availability", cols: []string{"pipeline", "scope", "stream", "state", "checked_at", "next_run", "reason"}}
	for _, a := range st.Availability {
		state, next := availabilityText(a)
		avail.rows = append(avail.rows, []any{a.Pipeline, a.Scope, a.Stream, state, a.CheckedAt, next, a.Reason})
	}
	runs := section{title: "Last runs", cols: []string{"run_id", "started_at", "ended_at", "outcome", "rows",
		"requests", "retries", "throttled", "bytes", "future_rows", "unparsed_notes", "error"}}
	for _, r := range st.Runs {
		var total int64
		for _, n := range r.Rows {
			total += n
		}
		runs.rows = append(runs.rows, []any{r.RunID, orNil(r.Start), orNil(r.End), r.Outcome, total,
			r.Requests, r.Retries, r.Throttled, r.Bytes, r.FutureRows, r.UnparsedNotes, r.Error})
	}
	return []section{tables, marks, avail, runs}
}

// availabilityText says in words what an availability row means, and
// what the next run does about it.
func availabilityText(a load.Availability) (state, next string) {
	if a.Available {
		return "answers again", "reads it from its watermark, or from since"
	}
	return "not licensed or not allowed", "probes it on changed parents only"
}

func orNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/internal/redact"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/transform"
)

// Outcomes of a run, as stored in _labtrail_runs.outcome.
const (
	OutcomeSuccess       = "success"
	OutcomePartial       = "partial"        // some scopes failed; everything else is stored
	OutcomeFailed        = "failed"         // a fatal error ended the run
	OutcomeTokenRejected = "token_rejected" // GitLab answered 401
	OutcomeInterrupted   = "interrupted"    // the context was cancelled (Ctrl-C, SIGTERM)
)

// Job is one labtrail run from start to finish: it opens the warehouse,
// builds the GitLab client, runs every pipeline, publishes the dimension
// tables, decides the outcome, writes the run record and closes the
// warehouse. `labtrail run` and the tests run this same code.
type Job struct {
	Config *config.Config
	Token  string
	// Log receives the run's messages; Job passes them through a redactor
	// for Token (server text may echo it, or carry escape codes that
	// forge log lines). nil discards.
	Log *slog.Logger
	// Mem allocates the run's Arrow buffers; nil is the Go allocator.
	Mem memory.Allocator
	// Counters, when not nil, count the work for progress displays.
	Counters *Counters
	// Watch, when not nil, is called with the client once it exists and
	// before any request; the stop it returns is called when the
	// pipelines are done (progress bars, periodic log lines).
	Watch func(*extract.Client) (stop func())
	// RunID names the run; empty generates one.
	RunID string
	// Shard is this process's part of a sharded run (see Shard). The
	// caller has already pointed Config's warehouse at the shard's own
	// state (Shard.StatePaths).
	Shard Shard
	// Tuning that only tests change; zero is the production value.
	BatchRows     int           // see Runner.BatchRows
	MaxParentRows int           // see Runner.MaxParentRows
	BackoffBase   time.Duration // see extract.Options.BackoffBase
	// Env looks up the environment for a REST Iceberg catalog's
	// credentials (see IcebergOptions); nil: none.
	Env func(string) (string, bool)
}

// Report is what a run did.
type Report struct {
	// Record is the run record as stored in _labtrail_runs; its Outcome
	// is one of the Outcome constants and its Error is redacted.
	Record load.RunRecord
	// Failures are the scopes that failed for good, their errors
	// redacted.
	Failures []Failure
	// Err is the fatal error that ended the run, redacted; nil when the
	// outcome is success or partial.
	Err error
}

// Run runs the job. It returns an error only when the run could not start
// (the warehouse is locked (load.ErrLocked) or cannot be opened, the
// client cannot be built): no run record is written then. Every run that
// starts writes its record, however it ends, even when ctx is cancelled.
func (j Job) Run(ctx context.Context) (Report, error) {
	red := redact.New(j.Token)
	log := j.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rec := load.RunRecord{RunID: j.RunID, Start: time.Now().UTC(), Outcome: OutcomeFailed, Rows: map[string]int64{}}
	if rec.RunID == "" {
		rec.RunID = NewRunID(rec.Start)
	}
	log = slog.New(red.Handler(log.Handler())).With("run", rec.RunID)
	mem := j.Mem
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	cfg := j.Config
	keepNotes := cfg.Warehouse.KeepsInternalNotes()
	previous, err := j.Shard.OtherLayouts(cfg.Warehouse.DuckDB)
	if err != nil {
		return Report{}, red.Wrap(err)
	}
	if len(previous) > 0 {
		log.Info("reading the state of earlier shard layouts: their rows count as stored, their watermarks carry over", "files", previous)
	}
	wh, err := load.Open(ctx, load.Options{DuckDBPath: cfg.Warehouse.DuckDB, ParquetDir: cfg.Warehouse.Parquet, ObjectStore: load.ObjectStore(cfg.Warehouse.ObjectStore),
		RunID: rec.RunID, Logger: log, Alloc: mem, RedactInternalNotes: !keepNotes, Views: ViewOptions(cfg),
		Previous: previous, Adopt: j.Shard.ownsScope, Iceberg: IcebergOptions(cfg, j.Env, j.Shard)})
	if err != nil {
		return Report{}, red.Wrap(err)
	}
	client, err := extract.NewClient(clientOptions(cfg.GitLab, j.Token, log, j.BackoffBase))
	if err != nil {
		return Report{}, red.Wrap(errors.Join(err, wh.Close()))
	}
	refresh, err := wh.Refreshes(ctx)
	if err != nil {
		return Report{}, red.Wrap(errors.Join(err, wh.Close()))
	}
	if len(refresh) > 0 {
		log.Info("listing every parent again: their stored rows predate columns added since", "tables", slices.Sorted(maps.Keys(refresh)))
	}
	runner := &Runner{Client: client, Warehouse: wh, Mem: mem, Log: log, Counters: j.Counters, Refresh: refresh,
		Meta:        transform.Meta{RunID: rec.RunID, ExtractedAt: rec.Start, KeepInternalNotes: keepNotes},
		Concurrency: cfg.GitLab.Concurrency, BatchRows: j.BatchRows, MaxParentRows: j.MaxParentRows, Shard: j.Shard}
	log.Info("run started", "pipelines", len(cfg.Pipelines), "gitlab", cfg.GitLab.URL, "shard", j.Shard.String())
	stop := func() {}
	if j.Watch != nil {
		stop = j.Watch(client)
	}
	res, runErr := runner.Run(ctx, cfg)
	stop()
	return j.finish(ctx, wh, client, rec, res, runErr, refresh, red, log), nil
}

// finish publishes, decides the outcome and writes the run record, on a
// fresh context: the record must be written for every run, Ctrl-C
// included.
func (j Job) finish(ctx context.Context, wh *load.Warehouse, client *extract.Client, rec load.RunRecord,
	res Result, runErr error, refresh map[string]bool, red *redact.Redactor, log *slog.Logger) Report {
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if runErr == nil {
		runErr = wh.PublishDimensions(fin)
	}
	rec.End = time.Now().UTC()
	rec.Rows = res.Rows
	rec.Requests = client.Stats.Requests.Load()
	rec.Retries = client.Stats.Retries.Load()
	rec.Throttled = client.Stats.Throttled.Load()
	rec.Bytes = client.Stats.Bytes.Load()
	rec.FutureRows = res.FutureRows
	if n, err := wh.UnparsedNotes(fin); err != nil {
		log.Error("counting unparsed system notes", "err", err)
	} else {
		rec.UnparsedNotes = n
	}
	rep := Report{Err: red.Wrap(runErr)}
	for _, f := range res.Failures {
		rep.Failures = append(rep.Failures, Failure{Pipeline: red.String(f.Pipeline), Scope: red.String(f.Scope), Err: red.Wrap(f.Err)})
	}
	rec.Outcome, rec.Error = outcome(ctx, runErr, rep)
	if rec.Outcome == OutcomeSuccess && len(refresh) > 0 {
		// Every parent listing of every pipeline finished: the tables are
		// refreshed. After any failure they are listed in full again.
		if err := wh.ClearRefreshes(fin, slices.Sorted(maps.Keys(refresh))); err != nil {
			log.Error("clearing refresh marks", "err", err)
		}
	}
	if err := wh.RecordRun(fin, rec); err != nil {
		log.Error("writing the run record", "err", err)
	}
	// Close checkpoints DuckDB, the run's memory peak (about 40 MiB of
	// DuckDB's on top of the steady state); the Go heap it would sit on
	// is garbage by now, so hand it back to the OS first.
	debug.FreeOSMemory()
	if err := wh.Close(); err != nil {
		log.Error("closing the warehouse", "err", err)
		if rep.Err == nil {
			rec.Outcome, rec.Error = OutcomeFailed, red.Error(err)
			rep.Err = red.Wrap(err)
		}
	}
	rep.Record = rec
	log.Info("run finished", "outcome", rec.Outcome, "rows", rec.Rows, "requests", rec.Requests,
		"retries", rec.Retries, "throttled", rec.Throttled, "future_rows", rec.FutureRows, "unparsed_notes", rec.UnparsedNotes, "seconds", rec.End.Sub(rec.Start).Seconds())
	return rep
}

// outcome names how a run ended, and the error text its record keeps.
func outcome(ctx context.Context, runErr error, rep Report) (string, string) {
	switch {
	case runErr != nil && ctx.Err() != nil:
		return OutcomeInterrupted, "interrupted by signal"
	case errors.Is(runErr, extract.ErrUnauthorized):
		return OutcomeTokenRejected, rep.Err.Error()
	case runErr != nil:
		return OutcomeFailed, rep.Err.Error()
	case len(rep.Failures) > 0:
		var msgs []string
		for _, f := range rep.Failures {
			msgs = append(msgs, fmt.Sprintf("%s %s: %v", f.Pipeline, f.Scope, f.Err))
		}
		return OutcomePartial, strings.Join(msgs, "; ")
	default:
		return OutcomeSuccess, ""
	}
}

// clientOptions are the client's options for the gitlab section g.
func clientOptions(g config.GitLab, token string, log *slog.Logger, backoff time.Duration) extract.Options {
	return extract.Options{
		BaseURL: g.URL, Token: token, TokenEnv: g.TokenEnv,
		Concurrency: g.Concurrency, RequestsPerSecond: g.RequestsPerSecond,
		MaxAttempts: g.MaxAttempts, Timeout: g.Timeout, Logger: log,
		MaxResponseBytes: g.MaxResponseBytes, MaxPages: g.MaxPages, MaxWait: g.MaxWait,
		BackoffBase: backoff,
	}
}

// NewRunID returns a run id that sorts by start time: the UTC start and a
// random suffix.
func NewRunID(start time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return start.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ViewOptions are the history views' settings from cfg, for every opener
// of the warehouse that writes (a run, compact): the views are replaced
// at each open, so each must pass the same ones.
func ViewOptions(cfg *config.Config) load.ViewOptions {
	return load.ViewOptions{WorkflowLabelPrefix: cfg.Warehouse.WorkflowLabelPrefix, Stages: cfg.Stages()}
}

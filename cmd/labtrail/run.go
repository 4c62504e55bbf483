package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/pipeline"
	"github.com/labtrail/labtrail/internal/progress"
	"github.com/labtrail/labtrail/internal/redact"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/transform"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("run", stderr, &c)
	summaryPath := fs.String("summary", "", "write the run record as JSON to this file")
	noProgress := fs.Bool("no-progress", false, "no progress bars or progress lines")
	if _, err := parse(fs, args); err != nil {
		return exitUsage
	}
	sink := progress.NewLogSink(stderr)
	log, err := c.logger(sink)
	if err != nil {
		oneLine(stderr, err)
		return exitUsage
	}
	cfg, err := c.load(stderr, os.LookupEnv)
	if err != nil {
		oneLine(stderr, fmt.Errorf("%s is not valid: %w", c.config, err))
		return exitUsage
	}
	token := cfg.GitLab.Token(os.LookupEnv)
	// From here on, every message (logs, the run record, the summary,
	// stderr) passes through red: server text may echo the token or carry
	// escape codes that forge log lines.
	red := redact.New(token)
	log = slog.New(red.Handler(log.Handler()))

	rec := load.RunRecord{RunID: newRunID(), Start: time.Now().UTC(), Outcome: "failed", Rows: map[string]int64{}}
	log = log.With("run", rec.RunID)
	wh, err := load.Open(ctx, load.Options{
		DuckDBPath: cfg.Warehouse.DuckDB, ParquetDir: cfg.Warehouse.Parquet, RunID: rec.RunID, Logger: log,
	})
	if err != nil {
		oneLine(stderr, errors.New(red.Error(err)))
		if errors.Is(err, load.ErrLocked) {
			return exitLocked
		}
		return exitFailed
	}
	client, err := extract.NewClient(extract.Options{
		BaseURL: cfg.GitLab.URL, Token: token, TokenEnv: cfg.GitLab.TokenEnv,
		Concurrency: cfg.GitLab.Concurrency, RequestsPerSecond: cfg.GitLab.RequestsPerSecond,
		MaxAttempts: cfg.GitLab.MaxAttempts, Timeout: cfg.GitLab.Timeout, Logger: log,
		MaxResponseBytes: cfg.GitLab.MaxResponseBytes, MaxPages: cfg.GitLab.MaxPages, MaxWait: cfg.GitLab.MaxWait,
	})
	if err != nil {
		wh.Close()
		oneLine(stderr, errors.New(red.Error(err)))
		return exitFailed
	}
	prog := pipeline.NewProgress()
	runner := &pipeline.Runner{
		Client: client, Warehouse: wh, Mem: memory.NewGoAllocator(), Log: log,
		Meta:        transform.Meta{RunID: rec.RunID, ExtractedAt: rec.Start},
		Concurrency: cfg.GitLab.Concurrency, Progress: prog,
	}
	log.Info("run started", "config", c.config, "pipelines", len(cfg.Pipelines), "gitlab", cfg.GitLab.URL)
	stopProgress := startProgress(stderr, prog, client, c.quiet || *noProgress, log, sink)
	res, runErr := runner.Run(ctx, cfg)
	stopProgress()

	// Finishing touches run even after a failure or Ctrl-C, on a fresh
	// context: the run record must be written for every run.
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if runErr == nil {
		if err := wh.PublishDimensions(fin); err != nil {
			runErr = err
		}
	}
	rec.End = time.Now().UTC()
	rec.Rows = res.Rows
	rec.Requests = client.Stats.Requests.Load()
	rec.Retries = client.Stats.Retries.Load()
	rec.Throttled = client.Stats.Throttled.Load()
	rec.Bytes = client.Stats.Bytes.Load()
	rec.FutureRows = res.FutureRows
	code := exitOK
	switch {
	case runErr != nil && ctx.Err() != nil:
		rec.Outcome, code = "interrupted", exitInterrupted
		rec.Error = "interrupted by signal"
	case errors.Is(runErr, extract.ErrUnauthorized):
		rec.Outcome, code = "token_rejected", exitToken
		rec.Error = red.Error(runErr)
	case runErr != nil:
		rec.Outcome, code = "failed", exitFailed
		rec.Error = red.Error(runErr)
	case len(res.Failures) > 0:
		rec.Outcome, code = "partial", exitPartial
		var msgs []string
		for _, f := range res.Failures {
			msgs = append(msgs, red.String(fmt.Sprintf("%s %s: %v", f.Pipeline, f.Scope, f.Err)))
		}
		rec.Error = strings.Join(msgs, "; ")
	default:
		rec.Outcome = "success"
	}
	if err := wh.RecordRun(fin, rec); err != nil {
		log.Error("writing the run record", "err", err)
	}
	if err := wh.Close(); err != nil {
		log.Error("closing the warehouse", "err", err)
		if code == exitOK {
			code = exitFailed
		}
	}
	if *summaryPath != "" {
		if err := writeSummary(*summaryPath, rec); err != nil {
			log.Error("writing the summary", "err", err)
		}
	}
	log.Info("run finished", "outcome", rec.Outcome, "rows", rec.Rows, "requests", rec.Requests,
		"retries", rec.Retries, "throttled", rec.Throttled, "future_rows", rec.FutureRows, "seconds", rec.End.Sub(rec.Start).Seconds())
	for _, f := range res.Failures {
		fmt.Fprintln(stderr, red.String(fmt.Sprintf("labtrail: failed: pipeline %s, %s: %v", f.Pipeline, f.Scope, f.Err)))
	}
	switch code {
	case exitOK:
	case exitPartial:
		fmt.Fprintf(stderr, "labtrail: %d scope(s) failed; everything else is stored\n", len(res.Failures))
	default:
		oneLine(stderr, errors.New(rec.Error))
	}
	return code
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// writeSummary writes the run record as JSON, atomically.
func writeSummary(path string, rec load.RunRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

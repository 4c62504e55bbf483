package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/pipeline"
	"github.com/labtrail/labtrail/internal/progress"
	"github.com/labtrail/labtrail/load"
)

// exitCodes maps a run's outcome to the process's exit code.
var exitCodes = map[string]int{
	pipeline.OutcomeSuccess:       exitOK,
	pipeline.OutcomePartial:       exitPartial,
	pipeline.OutcomeFailed:        exitFailed,
	pipeline.OutcomeTokenRejected: exitToken,
	pipeline.OutcomeInterrupted:   exitInterrupted,
}

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
	counters := pipeline.NewCounters()
	shard, _ := c.sharding() // checked by load
	job := pipeline.Job{Config: cfg, Token: cfg.GitLab.Token(os.LookupEnv), Log: log, Counters: counters, Shard: shard, Env: os.LookupEnv,
		Watch: func(client *extract.Client) func() {
			return startProgress(stderr, counters, client, c.quiet || *noProgress, log, sink)
		}}
	rep, err := job.Run(ctx)
	if err != nil {
		oneLine(stderr, err)
		if errors.Is(err, load.ErrLocked) {
			return exitLocked
		}
		return exitFailed
	}
	if *summaryPath != "" {
		if err := writeSummary(*summaryPath, rep.Record); err != nil {
			log.Error("writing the summary", "err", err)
		}
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(stderr, "labtrail: failed: pipeline %s, %s: %v\n", f.Pipeline, f.Scope, f.Err)
	}
	code := exitCodes[rep.Record.Outcome]
	switch code {
	case exitOK:
	case exitPartial:
		fmt.Fprintf(stderr, "labtrail: %d scope(s) failed; everything else is stored\n", len(rep.Failures))
	default:
		oneLine(stderr, errors.New(rep.Record.Error))
	}
	return code
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

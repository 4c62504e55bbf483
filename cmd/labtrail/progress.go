package main

import (
	"io"
	"log/slog"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/pipeline"
	"github.com/labtrail/labtrail/internal/progress"
)

func startProgress(stderr io.Writer, p *pipeline.Counters, c *extract.Client, off bool, log *slog.Logger, sink *progress.LogSink) func() {
	mode := progress.Detect(stderr)
	if off {
		mode = progress.Off
	}
	return progress.Start(stderr, progress.Options{Mode: mode, Log: log, Sink: sink}, p, c)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/labtrail/labtrail/internal/pipeline"
	"github.com/labtrail/labtrail/load"
)

// cmdCompact merges the small Parquet files incremental runs leave in each
// partition into one per partition, and with Iceberg the small data files
// of each partition too. It takes the warehouse lock like a run.
func cmdCompact(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("compact", stderr, &c)
	if _, err := parse(fs, args); err != nil {
		return exitUsage
	}
	log, err := c.logger(stderr)
	if err != nil {
		oneLine(stderr, err)
		return exitUsage
	}
	cfg, ok := c.loadWithoutToken(stderr)
	if !ok {
		return exitUsage
	}
	shard, _ := c.sharding() // checked by load
	wh, err := load.Open(ctx, load.Options{DuckDBPath: cfg.Warehouse.DuckDB, ParquetDir: cfg.Warehouse.Parquet, ObjectStore: load.ObjectStore(cfg.Warehouse.ObjectStore),
		RunID: "compact-" + pipeline.NewRunID(time.Now()), Logger: log, RedactInternalNotes: !cfg.Warehouse.KeepsInternalNotes(),
		Views: pipeline.ViewOptions(cfg), Iceberg: pipeline.IcebergOptions(cfg, os.LookupEnv, shard)})
	if err != nil {
		oneLine(stderr, err)
		if errors.Is(err, load.ErrLocked) {
			return exitLocked
		}
		return exitFailed
	}
	st, err := wh.Compact(ctx)
	if cerr := wh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		oneLine(stderr, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "compacted: %+v\n", st)
	return exitOK
}

// Command labtrail exports GitLab's event history into DuckDB and Parquet.
// This file only parses the command line and dispatches; the work lives in
// extract, transform, load and internal/pipeline.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/labtrail/labtrail/internal/cmem"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/internal/pipeline"
	"github.com/labtrail/labtrail/load"
)

// Exit codes, documented in the README for schedulers to alert on.
const (
	exitOK          = 0
	exitFailed      = 1   // the run could not go on (warehouse error, unexpected failure)
	exitUsage       = 2   // bad command line or invalid config
	exitPartial     = 3   // some projects, groups or users failed; the rest is stored
	exitToken       = 4   // GitLab rejected the token
	exitLocked      = 5   // another labtrail is writing to the same warehouse
	exitInterrupted = 130 // SIGINT or SIGTERM; what was stored is kept
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `labtrail exports GitLab event history into DuckDB and Parquet.

Usage:
  labtrail run      -c FILE [--quiet] [--log-format text|json] [--summary FILE] [--no-progress]
  labtrail validate -c FILE
  labtrail status   -c FILE
  labtrail plan     -c FILE [--format table|json]
  labtrail sql      -c FILE [--format table|csv|json] [QUERY]
  labtrail compact  -c FILE
  labtrail version

Every command but version takes --shard K/N (default $LABTRAIL_SHARD): the
work and the state of shard K (from 0) of N; see the README.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	limitGoMemory()
	limitCMemory(stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal stops the run cleanly; restoring the default
	// handling lets a second one end the process at once.
	go func() { <-ctx.Done(); stop() }()
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "sql":
		return cmdSQL(ctx, rest, os.Stdin, stdout, stderr)
	case "compact":
		return cmdCompact(ctx, rest, stdout, stderr)
	case "plan":
		return cmdPlan(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "labtrail", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "labtrail: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// goMemoryLimit is Go's soft memory limit (runtime/debug.SetMemoryLimit):
// Go's share of the 256 MiB a labtrail process stays under, beside DuckDB's
// memory_limit (load/duckdb_settings.go) and the mapped binary. A run's live
// Go heap is 20 to 45 MiB (rows being built and written per unit); with the
// default GOGC alone, garbage doubles that before a collection, which took
// Go to 110 MiB in a run of 1.4 million events. Under the limit the
// collector runs earlier instead; it is soft, so a larger live heap slows
// the run down rather than failing it. GOMEMLIMIT, when set, wins.
const goMemoryLimit = 64 << 20

// limitGoMemory sets goMemoryLimit unless GOMEMLIMIT is set.
func limitGoMemory() {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(goMemoryLimit)
	}
}

// cMmapThreshold is the size from which a C allocation (DuckDB's, mostly:
// its 256 KiB blocks, hash tables, checkpoint buffers) gets a mapping of its
// own, returned to the system when freed (internal/cmem). With glibc's
// default the threshold rises to the largest block freed, after which
// DuckDB's blocks come from malloc's arenas and what a checkpoint freed
// stays resident. Measured on 2 December 2026 (10x first run, concurrency
// 8, binary read from disk, with Warehouse.checkpointIfDue): peak RSS 252 to
// 260 MiB over four runs against 272 to 277 without it, in the same time
// (82 to 87 s); 64 KiB and two malloc arenas did no better. A warehouse
// created since 3 December 2026 has 64 KiB blocks (load's duckBlockSize),
// below this threshold; a 64 KiB threshold changed nothing for it either
// (10x peaks 215.6 and 213.9 MiB against 209.8 and 214.2).
const cMmapThreshold = 128 << 10

// limitCMemory sets cMmapThreshold, unless GLIBC_TUNABLES sets glibc's
// own (glibc.malloc.mmap_threshold), which then wins.
func limitCMemory(stderr io.Writer) {
	if strings.Contains(os.Getenv("GLIBC_TUNABLES"), "mmap_threshold") {
		return
	}
	if err := cmem.SetMmapThreshold(cMmapThreshold); err != nil && !errors.Is(err, cmem.ErrUnsupported) {
		fmt.Fprintf(stderr, "labtrail: %v\n", err)
	}
}

// common are the flags every warehouse command takes.
type common struct {
	config    string
	logFormat string
	quiet     bool
	shard     string
}

// shardEnv names the environment variable --shard falls back to, so that a
// Kubernetes Indexed Job can set it from JOB_COMPLETION_INDEX.
const shardEnv = "LABTRAIL_SHARD"

// sharding returns the shard the command works on: --shard, else
// LABTRAIL_SHARD, else the whole (unsharded) warehouse.
func (c common) sharding() (pipeline.Shard, error) {
	s, from := c.shard, "--shard"
	if s == "" {
		s, from = os.Getenv(shardEnv), shardEnv
	}
	sh, err := pipeline.ParseShard(s)
	if err != nil {
		return sh, fmt.Errorf("%s: %w", from, err)
	}
	return sh, nil
}

func newFlagSet(name string, stderr io.Writer, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "pipelines.yaml", "config file")
	fs.StringVar(&c.config, "c", "pipelines.yaml", "config file (shorthand)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&c.quiet, "quiet", false, "only warnings and errors; no progress")
	fs.StringVar(&c.shard, "shard", "", "K/N: work on shard K (from 0) of N, with its own state (default $"+shardEnv+")")
	return fs
}

// parse parses flags; positional arguments may come before or after flags.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c common) logger(stderr io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if c.quiet {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch c.logFormat {
	case "text":
		log = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return nil, fmt.Errorf("--log-format: want text or json, got %q", c.logFormat)
	}
	// iceberg-go logs through slog's default logger: its lines must
	// follow --log-format and --quiet too, or a JSON log collector gets
	// a stray text line.
	slog.SetDefault(log)
	return log, nil
}

// oneLine prints a failure as the single line schedulers show.
func oneLine(stderr io.Writer, err error) {
	msg := err.Error()
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		msg = fmt.Sprintf("%d problems; first: %v", len(joined.Unwrap()), joined.Unwrap()[0])
	}
	fmt.Fprintln(stderr, "labtrail:", msg)
}

// load loads the config, looking environment variables up with env, and
// prints every problem with its YAML path when it is not valid. With a
// shard, the warehouse paths are the shard's own (Shard.StatePaths).
func (c common) load(stderr io.Writer, env func(string) (string, bool)) (*config.Config, error) {
	sh, shErr := c.sharding()
	cfg, err := config.Load(c.config, env)
	if err = errors.Join(err, shErr); err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%v\n", c.config, err)
		return nil, err
	}
	cfg.Warehouse.DuckDB, cfg.Warehouse.Parquet = sh.StatePaths(cfg.Warehouse.DuckDB, cfg.Warehouse.Parquet)
	return cfg, nil
}

// loadWithoutToken loads the config for commands that only touch the
// warehouse and so need no token.
func (c common) loadWithoutToken(stderr io.Writer) (*config.Config, bool) {
	cfg, err := c.load(stderr, func(string) (string, bool) { return "-", true })
	return cfg, err == nil
}

// openReadOnly opens the configured warehouse read-only. A nil db means it
// failed; code is then the exit code and the reason was printed.
func (c common) openReadOnly(ctx context.Context, stderr io.Writer) (*config.Config, *sql.DB, int) {
	cfg, ok := c.loadWithoutToken(stderr)
	if !ok {
		return nil, nil, exitUsage
	}
	db, err := load.OpenReadOnly(ctx, cfg.Warehouse.DuckDB)
	if err != nil {
		oneLine(stderr, err)
		return nil, nil, exitFailed
	}
	return cfg, db, exitOK
}

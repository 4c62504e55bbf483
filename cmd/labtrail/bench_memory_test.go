package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/load"
	"github.com/labtrail/labtrail/schemas"
)

// The memory targets: peak resident memory of a labtrail process (not of
// the fake server, which runs in the benchmark's process) stays under
// rssBound whatever the size of the history. Each command runs as a child
// process and its peak is read from the kernel (getrusage ru_maxrss), so
// DuckDB's memory, the Go heap and the mapped binary all count; the binary
// is first dropped from the page cache (dropPageCache), so that it counts
// as much as a deployed one does.
//
// LABTRAIL_BIN=path measures that binary (make bench passes bin/labtrail);
// otherwise this test binary is re-executed as labtrail, like the
// end-to-end tests.

// rssBound is the issue's bound on a labtrail process.
const rssBound = 256 << 20

const benchToken = "glpat-BENCH-token-0123456789"

// benchScale is BenchmarkFullRun's instance (internal/pipeline) with its
// events and parents (issues, MRs, epics) multiplied by times.
func benchScale(times int) gitlabfake.Scale {
	return gitlabfake.Scale{IssuesPerProject: 200 * times, MRsPerProject: 80 * times, EpicsPerGroup: 20 * times,
		EventsPerProject: 30_000 * times, BigProjectEvents: 60_000 * times}
}

// BenchmarkPeakRSS runs a first, full `labtrail run` of the benchmark
// instance at 1x and at 10x its events and parents (about 142,000 and 1.4
// million events) and reports the process's peak resident memory: flat
// memory means the two are about the same.
func BenchmarkPeakRSS(b *testing.B) {
	var lines []string
	for _, times := range []int{1, 10} {
		b.Run(fmt.Sprintf("%dx", times), func(b *testing.B) {
			fake := gitlabfake.New(gitlabfake.Options{Seed: 42, Token: benchToken, Scale: benchScale(times), RateLimitPerMinute: 1_000_000})
			srv := httptest.NewServer(fake)
			defer srv.Close()
			var peak, anon, file int64
			var events float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				cfg := writeBenchConfig(b, dir, srv.URL, "wh")
				summary := filepath.Join(dir, "run.json")
				b.StartTimer()
				r := runMeasured(b, "run", "-c", cfg, "--no-progress", "--quiet", "--summary", summary)
				b.StopTimer()
				if r.code != exitOK {
					b.Fatalf("run exited %d:\n%s", r.code, lastLines(r.stderr, 20))
				}
				var rec struct{ Rows map[string]int64 }
				if data, err := os.ReadFile(summary); err != nil || json.Unmarshal(data, &rec) != nil {
					b.Fatalf("no run summary: %v", err)
				}
				events = float64(rec.Rows["events"])
				peak = max(peak, r.rss)
				anon, file = max(anon, r.anon), max(file, r.file)
				b.ReportMetric(events/r.took.Seconds(), "events/s")
				b.StartTimer()
			}
			reportRSS(b, "peak-RSS-MiB", peak)
			b.ReportMetric(mib(anon), "peak-anon-MiB")
			b.ReportMetric(mib(file), "peak-file-MiB")
			b.ReportMetric(events, "events")
			lines = append(lines, fmt.Sprintf("%.0f MiB at %dx (%.0f events; anonymous %.0f, file-backed %.0f)", mib(peak), times, events, mib(anon), mib(file)))
		})
	}
	if len(lines) > 0 {
		fmt.Printf("peak RSS at 1x and 10x: %s\n", strings.Join(lines, ", "))
	}
}

// warehouseEvents is the size of BenchmarkWarehouse10M's warehouse.
const warehouseEvents = 10_000_000

// BenchmarkWarehouse10M measures the commands that read or rewrite a whole
// warehouse, on one holding 10 million events (and a million label events)
// in Parquet partitions of many small files, the way hourly runs leave
// them: `labtrail sql` with aggregations over every event and the
// label_intervals view, `labtrail compact`, and a full run of the 1x
// benchmark instance into that warehouse.
func BenchmarkWarehouse10M(b *testing.B) {
	cached := warehouse10M(b)
	fake := gitlabfake.New(gitlabfake.Options{Seed: 42, Token: benchToken, Scale: benchScale(1), RateLimitPerMinute: 1_000_000})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	queries := []string{
		`SELECT strftime(created_at, '%Y-%m') AS month, count(*), count(DISTINCT author_id) FROM events GROUP BY ALL ORDER BY ALL`,
		`SELECT u.username, count(*) AS events, max(e.created_at) FROM events e JOIN users u ON u.id = e.author_id GROUP BY ALL ORDER BY 2 DESC LIMIT 20`,
		`SELECT label_name, count(*), median(duration), max(duration) FROM label_intervals GROUP BY ALL ORDER BY 2 DESC LIMIT 20`,
		`SELECT created_month, count(*) FROM read_parquet('` + filepath.ToSlash(filepath.Join(cached, "parquet")) +
			`/events/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL`,
	}
	var sqlPeak, compactPeak, runPeak int64
	for i := 0; i < b.N; i++ {
		// sql reads the cached warehouse in place: it opens it read-only.
		cfg := writeBenchConfig(b, b.TempDir(), srv.URL, cached)
		for _, q := range queries {
			r := runMeasured(b, "sql", "-c", cfg, "--format", "csv", q)
			if r.code != exitOK {
				b.Fatalf("sql exited %d on %s:\n%s", r.code, q, lastLines(r.stderr, 20))
			}
			b.Logf("sql: %.0f MiB, %s: %s", mib(r.rss), r.took.Round(time.Millisecond), q)
			sqlPeak = max(sqlPeak, r.rss)
		}

		// compact and run change the warehouse: each gets a copy.
		b.StopTimer()
		dir := b.TempDir()
		copyTree(b, cached, filepath.Join(dir, "wh"))
		cfg = writeBenchConfig(b, dir, srv.URL, "wh")
		b.StartTimer()
		r := runMeasured(b, "compact", "-c", cfg, "--quiet")
		if r.code != exitOK || !strings.Contains(r.stdout, "Partitions:") {
			b.Fatalf("compact exited %d:\n%s%s", r.code, r.stdout, lastLines(r.stderr, 20))
		}
		b.Logf("compact: %.0f MiB, %s: %s", mib(r.rss), r.took.Round(time.Millisecond), strings.TrimSpace(r.stdout))
		compactPeak = max(compactPeak, r.rss)
		// The compacted dataset, read the way the README tells readers to.
		q := `SELECT count(*) FROM read_parquet('` + filepath.ToSlash(filepath.Join(dir, "wh", "parquet")) +
			`/events/**/*.parquet', hive_partitioning = true, union_by_name = true)`
		r = runMeasured(b, "sql", "-c", cfg, "--format", "csv", q)
		if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprint(warehouseEvents)) {
			b.Fatalf("after compact, the Parquet events are not the %d generated (exit %d): %s%s", warehouseEvents, r.code, r.stdout, lastLines(r.stderr, 20))
		}
		b.Logf("sql: %.0f MiB, %s: %s", mib(r.rss), r.took.Round(time.Millisecond), q)
		sqlPeak = max(sqlPeak, r.rss)

		r = runMeasured(b, "run", "-c", cfg, "--no-progress", "--quiet")
		if r.code != exitOK {
			b.Fatalf("run exited %d:\n%s", r.code, lastLines(r.stderr, 20))
		}
		b.Logf("run into the 10M warehouse: %.0f MiB, %s", mib(r.rss), r.took.Round(time.Millisecond))
		runPeak = max(runPeak, r.rss)
	}
	reportRSS(b, "sql-peak-RSS-MiB", sqlPeak)
	reportRSS(b, "compact-peak-RSS-MiB", compactPeak)
	reportRSS(b, "run-peak-RSS-MiB", runPeak)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// reportRSS reports a peak and fails the benchmark when it is over rssBound.
func reportRSS(b *testing.B, unit string, peak int64) {
	b.Helper()
	b.ReportMetric(mib(peak), unit)
	if peak > rssBound {
		b.Errorf("%s: %.0f MiB, over the bound of %d MiB", unit, mib(peak), rssBound>>20)
	}
}

// writeBenchConfig writes dir/pipelines.yaml: the bench pipeline against
// url, with the warehouse under wh (relative to dir, or absolute).
func writeBenchConfig(b *testing.B, dir, url, wh string) string {
	b.Helper()
	cfg := filepath.Join(dir, "pipelines.yaml")
	doc := fmt.Sprintf(`gitlab:
  url: %s
  token_env: E2E_GITLAB_TOKEN
  concurrency: 8
warehouse:
  duckdb: %s/gitlab.duckdb
  parquet: %s/parquet
pipelines:
  - name: acme
    groups: [acme]
    projects: [freeorg/tool]
    users: [alice]
    current_user: true
    since: 2024-01-01
`, url, wh, wh)
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		b.Fatal(err)
	}
	return cfg
}

type measured struct {
	code           int
	stdout, stderr string
	rss            int64 // peak resident bytes (ru_maxrss)
	anon, file     int64 // peaks of its anonymous and file-backed parts, sampled
	took           time.Duration
}

// runMeasured runs labtrail with args in a child process and returns its
// exit code, output and peak resident memory.
//
// The child is started by a small helper process (this test binary, see
// init), not by the benchmark itself: Go starts processes with vfork, and
// Linux counts the memory of the process a child was vforked from in the
// child's ru_maxrss, so a child of this process, which holds the fake's
// instance (850 MiB at 10x) or generated a warehouse, would report that.
func runMeasured(b *testing.B, args ...string) measured {
	b.Helper()
	bin := os.Getenv("LABTRAIL_BIN")
	if bin == "" {
		bin = os.Args[0]
	}
	rss := filepath.Join(b.TempDir(), "maxrss")
	c := exec.Command(os.Args[0], append([]string{bin}, args...)...)
	c.Env = append(os.Environ(), rssHelperEnv+"="+rss, "LABTRAIL_E2E_EXEC=1", "E2E_GITLAB_TOKEN="+benchToken)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	m := measured{took: time.Since(start), stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		b.Fatal(err)
	}
	m.code = c.ProcessState.ExitCode()
	kib, err := os.ReadFile(rss)
	if err != nil {
		b.Fatalf("labtrail %s: no peak RSS from the helper (exit %d): %v\n%s", args[0], m.code, err, lastLines(m.stderr, 10))
	}
	if _, err := fmt.Sscan(string(kib), &m.rss, &m.anon, &m.file); err != nil {
		b.Fatalf("helper wrote %q: %v", kib, err)
	}
	m.rss <<= 10 // KiB on Linux
	m.anon <<= 10
	m.file <<= 10
	return m
}

// rssSplit is the peak of each part of a process's resident memory, in
// KiB, sampled from /proc (zero where there is none): anonymous memory
// (the Go heap, DuckDB's buffers and allocations) and file-backed pages
// (the mapped binary).
type rssSplit struct{ anon, file int64 }

// sampleRSS samples /proc/pid/status every 10 ms until stop is closed.
// A short spike between samples is missed: ru_maxrss stays the measure
// the bound applies to; the split says where the memory is.
func sampleRSS(pid int, stop <-chan struct{}) rssSplit {
	var peak rssSplit
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for line := range strings.Lines(string(data)) {
				var kib int64
				if _, err := fmt.Sscanf(line, "RssAnon: %d kB", &kib); err == nil {
					peak.anon = max(peak.anon, kib)
				} else if _, err := fmt.Sscanf(line, "RssFile: %d kB", &kib); err == nil {
					peak.file = max(peak.file, kib)
				}
			}
		}
		select {
		case <-stop:
			return peak
		case <-tick.C:
		}
	}
}

// dropPageCache asks the kernel to drop the cached pages of the binary at
// path, so that it is mapped the way a deployed binary loaded from disk is.
// A binary the linker just wrote sits in the page cache in large folios
// (Linux 6.x on ext4), and a process mapping it faults in a whole folio
// for every page it touches: measured on 2 December 2026, `labtrail
// version` peaked at 125 MiB straight after `make build` and at 77 MiB
// once the cache was dropped, the difference all in file-backed pages.
// Best effort: a failure leaves the measurement as it was.
func dropPageCache(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// rssHelperEnv, set to a file name, makes this test binary a helper that
// runs the command in its arguments, writes the command's peak RSS in KiB
// (ru_maxrss) to that file and exits with the command's exit code. The
// helper is small, so what it adds to its child's ru_maxrss (see
// runMeasured) is less than any labtrail process uses.
const rssHelperEnv = "LABTRAIL_BENCH_MAXRSS_FILE"

func init() {
	file := os.Getenv(rssHelperEnv)
	if file == "" || len(os.Args) < 2 {
		return
	}
	os.Unsetenv(rssHelperEnv)
	dropPageCache(os.Args[1])
	c := exec.Command(os.Args[1], os.Args[2:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := c.Start()
	var split rssSplit
	if err == nil {
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() { defer close(sampled); split = sampleRSS(c.Process.Pid, stop) }()
		err = c.Wait()
		close(stop)
		<-sampled
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "rss helper:", err)
		os.Exit(1)
	}
	ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "rss helper: no rusage on this platform")
		os.Exit(1)
	}
	if err := os.WriteFile(file, fmt.Appendf(nil, "%d %d %d", ru.Maxrss, split.anon, split.file), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "rss helper:", err)
		os.Exit(1)
	}
	os.Exit(c.ProcessState.ExitCode())
}

// warehouse10M returns the directory of a warehouse (gitlab.duckdb and
// parquet/) holding warehouseEvents events, building it on first use and
// caching it under os.TempDir(), keyed by the generator's version, the
// schemas and DuckDB's version. Callers must not change it.
func warehouse10M(b *testing.B) string {
	b.Helper()
	key := fnv.New64a()
	fmt.Fprint(key, "v2 ", warehouseEvents, duckdbVersion(b)) // v2: 64 KiB DuckDB blocks
	for _, t := range schemas.All() {
		fmt.Fprint(key, t.Name, t.Schema)
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("labtrail-bench-warehouse-%x", key.Sum64()))
	if _, err := os.Stat(filepath.Join(dir, "gitlab.duckdb")); err == nil {
		return dir
	}
	b.Logf("building a warehouse of %d events in %s (once; it is cached)", warehouseEvents, dir)
	start := time.Now()
	tmp, err := os.MkdirTemp(os.TempDir(), "labtrail-bench-building-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := buildWarehouse(context.Background(), tmp); err != nil {
		b.Fatalf("building the warehouse: %v", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "gitlab.duckdb")); serr != nil {
			b.Fatal(err)
		} // else another benchmark built it meanwhile
	}
	b.Logf("built in %s", time.Since(start).Round(time.Second))
	return dir
}

func duckdbVersion(b *testing.B) string {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow("SELECT version()").Scan(&v); err != nil {
		b.Fatal(err)
	}
	return v
}

// genMonths is how many months of history the generated rows span, from
// January 2023: the benchmark instance's own rows are all later.
const genMonths = 36

// generated are the fact tables buildWarehouse fills: every NOT NULL column
// and enough others for the queries above, from i, the row number, h and
// h2, hashes of i and of i // 2, and created_at, spread evenly over
// genMonths. Columns not named are null. ids start past the fake's.
var generated = []struct {
	table  schemas.Table
	rows   int
	values string
}{
	{schemas.Events, warehouseEvents, `
	1000000000000 + i AS id, i % 400 AS project_id,
	['pushed to', 'commented on', 'opened', 'closed', 'accepted'][1 + h % 5] AS action_name,
	CASE WHEN h % 5 = 0 THEN NULL ELSE ['Issue', 'MergeRequest', 'Note'][1 + h % 3] END AS target_type,
	h % 100000 AS target_id, h % 3000 AS target_iid, 'Make the export faster, part ' || (i % 5000) AS target_title,
	i % 5000 AS author_id, 'user' || (i % 5000) AS author_username, 'User Number ' || (i % 5000) AS author_name,
	created_at,
	CASE WHEN h % 5 = 0 THEN 1 + i % 7 END AS push_commit_count,
	CASE WHEN h % 5 = 0 THEN 'pushed' END AS push_action,
	CASE WHEN h % 5 = 0 THEN 'branch' END AS push_ref,
	CASE WHEN h % 5 = 0 THEN md5(i::VARCHAR) || 'abcdefgh' END AS push_commit_to,
	CASE WHEN h % 5 = 1 THEN 'I think this breaks the export when the page is empty; see run ' || i END AS note_body`},
	{schemas.LabelEvents, warehouseEvents / 10, `
	2000000000000 + i AS id, 'Issue' AS resource_type, 3000000 + i // 20 AS resource_id, i // 20 % 3000 AS resource_iid,
	i // 20 % 400 AS project_id, ['add', 'remove'][1 + i % 2] AS action, created_at,
	i % 5000 AS user_id, 'user' || (i % 5000) AS user_username,
	1 + h2 % 200 AS label_id, 'workflow::step-' || (1 + h2 % 200) AS label_name`},
}

// buildWarehouse creates a warehouse in dir with load.Open, fills the
// generated tables and the users and labels dimensions in DuckDB with SQL,
// writes their rows to Parquet partitions of many small files (rows are
// dealt round-robin into 100 files per month) and lists every file in the
// manifest, as AppendFacts would have.
func buildWarehouse(ctx context.Context, dir string) error {
	duckPath, parquetDir := filepath.Join(dir, "gitlab.duckdb"), filepath.Join(dir, "parquet")
	wh, err := load.Open(ctx, load.Options{DuckDBPath: duckPath, ParquetDir: parquetDir, RunID: "bench-gen"})
	if err != nil {
		return err
	}
	if err := wh.Close(); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "gen"), 0o755); err != nil {
		return err
	}
	db, err := sql.Open("duckdb", duckPath)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stmts := []string{`SET TimeZone = 'UTC'`,
		`INSERT INTO users BY NAME SELECT i AS id, 'user' || i AS username, 'User Number ' || i AS name, 'active' AS state,
			now() AS _extracted_at, 'bench-gen' AS _run_id FROM range(5000) t(i)`,
		`INSERT INTO labels BY NAME SELECT i AS id, 'workflow::step-' || i AS name, '#ff0000' AS color,
			now() AS _extracted_at, 'bench-gen' AS _run_id FROM range(1, 201) t(i)`}
	for _, g := range generated {
		span := int64(genMonths) * 30 * 24 * 3600 * 1_000_000 / int64(g.rows) // microseconds between rows
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO %s BY NAME SELECT %s, now() AS _extracted_at, 'bench-gen' AS _run_id
			FROM (SELECT i, (hash(i) >> 1)::BIGINT AS h, (hash(i // 2) >> 1)::BIGINT AS h2,
				make_timestamp(1672531200000000 + i * %d)::TIMESTAMPTZ AS created_at FROM range(%d) t(i))`,
			g.table.Name, g.values, span, g.rows))
		// One file per (month, part); the part column is dropped by the
		// partitioned write and its directory level flattened below.
		stmts = append(stmts, fmt.Sprintf(`COPY (SELECT *, strftime(created_at, '%%Y-%%m') AS %s, id %% 100 AS part FROM %s)
			TO '%s' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (%s, part))`,
			schemas.PartitionColumn, g.table.Name, filepath.ToSlash(filepath.Join(dir, "gen", g.table.Name)), schemas.PartitionColumn))
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	for _, g := range generated {
		if err := flattenParts(filepath.Join(dir, "gen", g.table.Name), filepath.Join(parquetDir, g.table.Name)); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, fmt.Sprintf(`INSERT INTO _labtrail_files (table_name, path, "rows", run_id, created_at)
			SELECT '%s', substr(file_name, %d), num_rows, 'bench-gen', now()
			FROM parquet_file_metadata('%s/*/*.parquet')`,
			g.table.Name, len(filepath.ToSlash(parquetDir))+2, filepath.ToSlash(filepath.Join(parquetDir, g.table.Name))))
		if err != nil {
			return err
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "gen")); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "CHECKPOINT")
	return err
}

// flattenParts moves from/<partition>/part=N/<file>.parquet to
// to/<partition>/gen-N-<file>.parquet.
func flattenParts(from, to string) error {
	return filepath.WalkDir(from, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(from, name)
		if err != nil {
			return err
		}
		month, part := filepath.Dir(filepath.Dir(rel)), strings.TrimPrefix(filepath.Base(filepath.Dir(rel)), "part=")
		dst := filepath.Join(to, month, "gen-"+part+"-"+filepath.Base(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.Rename(name, dst)
	})
}

// copyTree copies the regular files under from to to.
func copyTree(b *testing.B, from, to string) {
	b.Helper()
	err := filepath.WalkDir(from, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, name)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		src, err := os.Open(name)
		if err != nil {
			return err
		}
		defer src.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, src); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		b.Fatal(err)
	}
}

package main

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// TestShardedRunsAsProcesses runs two shards as two labtrail processes at
// once, one given its shard by --shard and one by LABTRAIL_SHARD (as a
// Kubernetes Indexed Job would), then the same config unsharded: each
// shard's own warehouse answers `sql --shard`, and the shards' fact rows
// add up to the unsharded run's, every table. A bad --shard is a usage
// error naming the flag.
func TestShardedRunsAsProcesses(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 21})
	if code, _, stderr := e.labtrail("validate", "-c", e.cfg, "--shard", "2/2"); code != exitUsage || !strings.Contains(stderr, "--shard: shard \"2/2\": K must be between 0 and 1") {
		t.Errorf("validate --shard 2/2: exit %d, stderr:\n%s", code, stderr)
	}
	var wg sync.WaitGroup
	codes, errs := make([]int, 2), make([]string, 2)
	for k := range 2 {
		wg.Go(func() {
			args := []string{"run", "-c", e.cfg, "--no-progress"}
			c, _, errb := e.cmd(e2eToken, args...)
			if k == 0 {
				c.Args = append(c.Args, "--shard", "0/2")
			} else {
				c.Env = append(c.Env, "LABTRAIL_SHARD=1/2")
			}
			_ = c.Run()
			codes[k], errs[k] = c.ProcessState.ExitCode(), errb.String()
		})
	}
	wg.Wait()
	for k := range 2 {
		if codes[k] != exitOK {
			t.Fatalf("shard %d/2 exited %d:\n%s", k, codes[k], lastLines(errs[k], 20))
		}
	}
	e.mustRun()
	count := func(table string, shard ...string) int {
		args := append([]string{"sql", "-c", e.cfg, "--format", "csv"}, shard...)
		code, out, stderr := e.labtrail(append(args, "SELECT count(*) FROM "+table)...)
		if code != exitOK {
			t.Fatalf("sql %v: exit %d: %s", shard, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		n, err := strconv.Atoi(lines[len(lines)-1])
		if err != nil {
			t.Fatalf("sql %v: %q", shard, out)
		}
		return n
	}
	for _, table := range []string{"events", "label_events", "state_events", "activity"} {
		whole, s0, s1 := count(table), count(table, "--shard", "0/2"), count(table, "--shard", "1/2")
		if s0 == 0 || s1 == 0 || s0+s1 != whole {
			t.Errorf("%s: shards hold %d + %d rows, the unsharded run %d", table, s0, s1, whole)
		}
	}
	if code, out, _ := e.labtrail("validate", "-c", e.cfg, "--shard", "1/2"); code != exitOK || !strings.Contains(out, "gitlab.shard-1-of-2.duckdb") {
		t.Errorf("validate --shard 1/2: exit %d, %s", code, out)
	}
}

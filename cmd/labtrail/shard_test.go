package main

import (
	"bytes"
	"os"
	"path/filepath"
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
// add up to an unsharded run's (into a warehouse of its own), every table. A bad --shard is a usage
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
	// The unsharded run into a warehouse of its own: beside the shards'
	// files it would be their next layout, and count their rows as stored.
	whole := filepath.Join(e.dir, "whole.yaml")
	doc, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(whole, bytes.ReplaceAll(doc, []byte("wh/"), []byte("whole/")), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := e.labtrail("run", "-c", whole, "--no-progress"); code != exitOK {
		t.Fatalf("unsharded run exited %d:\n%s", code, lastLines(stderr, 20))
	}
	count := func(table string, shard ...string) int {
		cfg := e.cfg
		if len(shard) == 0 {
			cfg = whole
		}
		args := append([]string{"sql", "-c", cfg, "--format", "csv"}, shard...)
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
	// Back to one process beside the shards' state: it carries their
	// watermarks over and counts their rows as stored, so with no new
	// activity it stores nothing.
	if code, _, stderr := e.labtrail("run", "-c", e.cfg, "--no-progress"); code != exitOK || !strings.Contains(stderr, "earlier shard layouts") {
		t.Fatalf("unsharded run after the shards exited %d:\n%s", code, lastLines(stderr, 20))
	}
	if n := count("events", "--shard", "0/1"); n != 0 {
		t.Errorf("the unsharded run after two shards stored %d events again", n)
	}
	if code, out, _ := e.labtrail("validate", "-c", e.cfg, "--shard", "1/2"); code != exitOK || !strings.Contains(out, "gitlab.shard-1-of-2.duckdb") {
		t.Errorf("validate --shard 1/2: exit %d, %s", code, out)
	}
}

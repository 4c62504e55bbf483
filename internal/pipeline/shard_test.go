package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/internal/gitlabfake"
	wt "github.com/labtrail/labtrail/internal/warehousetest"
)

func TestParseShard(t *testing.T) {
	for in, want := range map[string]Shard{"": {}, "0/1": {0, 1}, "0/4": {0, 4}, "3/4": {3, 4}, " 2 / 8 ": {2, 8}} {
		got, err := ParseShard(in)
		if err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{"4/4": "K must be between 0 and 3", "-1/2": "K must be", "1": "want K/N",
		"a/b": "whole numbers", "0/0": "N must be between 1 and 1024", "0/5000": "N must be"} {
		if _, err := ParseShard(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseShard(%q): error %v, want one containing %q", in, err, msg)
		}
	}
}

// TestShardOfSpreadsAndIsStable pins the hash (changing it silently moves
// every project to another shard, whose state lacks its watermarks) and
// checks that consecutive ids spread evenly.
func TestShardOfSpreadsAndIsStable(t *testing.T) {
	got := []int{ShardOf(1, 4), ShardOf(2, 4), ShardOf(3, 4), ShardOf(1000, 4), ShardOf(278964, 16)}
	pinned := fmt.Sprint(got)
	if pinned != "[1 2 0 3 0]" {
		t.Errorf("ShardOf changed: %s; moving every project to another shard breaks sharded warehouses", pinned)
	}
	counts := make([]int, 8)
	for id := int64(1); id <= 8000; id++ {
		counts[ShardOf(id, 8)]++
	}
	for k, n := range counts {
		if n < 900 || n > 1100 {
			t.Errorf("shard %d of 8 owns %d of 8,000 consecutive ids; want about 1,000 (%v)", k, n, counts)
		}
	}
}

func TestStatePaths(t *testing.T) {
	for _, c := range []struct {
		sh                   Shard
		duck, pq, wDuck, wPq string
	}{
		{Shard{}, "w/gitlab.duckdb", "w/parquet", "w/gitlab.duckdb", "w/parquet"},
		{Shard{0, 1}, "w/gitlab.duckdb", "w/parquet", "w/gitlab.duckdb", "w/parquet"},
		{Shard{1, 4}, "w/gitlab.duckdb", "w/parquet", "w/gitlab.shard-1-of-4.duckdb", "w/parquet/shard-1-of-4"},
		{Shard{3, 4}, "state", "s3://b/lake/", "state.shard-3-of-4", "s3://b/lake/shard-3-of-4"},
	} {
		d, p := c.sh.StatePaths(c.duck, c.pq)
		if d != c.wDuck || p != filepath.FromSlash(c.wPq) && p != c.wPq {
			t.Errorf("%v.StatePaths(%q, %q) = %q, %q; want %q, %q", c.sh, c.duck, c.pq, d, p, c.wDuck, c.wPq)
		}
	}
}

// TestShardsTogetherAreExact runs two shards in parallel, each with its
// own state, over a pipeline with groups (and a subgroup), a project, a
// user, the current user and the instance's audit events, then again after
// new activity, then moves to three shards: the union of the warehouses
// must hold exactly what the server has in scope (no row missing, none
// doubled: a configured user's events in a configured project are listed
// by both scopes, and a project that moved to a new shard must not be
// read again from the start), in DuckDB and in the Parquet trees, and
// each shard must have done part of the work.
func TestShardsTogetherAreExact(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 7, Scale: smallScale()}, auditPipeline)
	two, three := []Shard{{0, 2}, {1, 2}}, []Shard{{0, 3}, {1, 3}, {2, 3}}
	check := func(layouts ...[]Shard) {
		t.Helper()
		db := unionOfShards(t, h, slices.Concat(layouts...))
		defer db.Close()
		wt.CheckExact(t, db, filepath.Join(h.cfg.Warehouse.Parquet, "*"), h.fake.Data(), acmeScope(h.fake.Data()).WithAudit(true))
		wt.CheckDimensions(t, db)
		for i := range layouts[len(layouts)-1] {
			alias := fmt.Sprintf("s%d", len(slices.Concat(layouts[:len(layouts)-1]...))+i)
			if rows := wt.RowsOf(t, db, "SELECT count(*) FROM "+alias+".events"); rows[0] == "0" {
				t.Errorf("%s stored no events: the test proves nothing", alias)
			}
		}
	}
	runShards(t, h, two)
	check(two)
	first := h.fake.Requests()
	if sum := h.fake.AddActivity(2); sum.SameDayEvents == 0 {
		t.Fatal("the fake added no events on the day of the newest stored one")
	}
	h.fake.ResetRequests()
	runShards(t, h, two)
	check(two)
	incremental := h.fake.Requests()

	// Three shards: every project is rehashed; the new shards carry the
	// old watermarks over and count the old rows as stored.
	h.fake.AddActivity(1)
	var planned int64
	for _, sh := range three {
		p, err := Planner{Config: h.shardConfig(sh), Token: token, BackoffBase: 5 * time.Millisecond, Shard: sh}.Plan(context.Background())
		if err != nil {
			t.Fatalf("plan %v: %v", sh, err)
		}
		planned += p.TotalRequests
	}
	if total(first) == 0 || planned > int64(total(first))/2 {
		t.Errorf("plan of the three new shards: %d requests; the first run of two made %d: it plans history again", planned, total(first))
	}
	h.fake.ResetRequests()
	runShards(t, h, three)
	checkMoved := func() {
		t.Helper()
		db := unionOfShards(t, h, slices.Concat(two, three))
		defer db.Close()
		sc := acmeScope(h.fake.Data()).WithAudit(true)
		sc.ParquetFactsOnly = true
		wt.CheckExact(t, db, filepath.Join(h.cfg.Warehouse.Parquet, "*"), h.fake.Data(), sc)
		wt.CheckDimensions(t, db)
	}
	checkMoved()
	moved := h.fake.Requests()
	for _, k := range []string{"project_events", "resource_label_events"} {
		if moved[k] > 2*incremental[k]+20 || moved[k] >= first[k]/2 {
			t.Errorf("%s: the first run of three shards made %d requests; the first run of two %d, an incremental one %d: it read history again",
				k, moved[k], first[k], incremental[k])
		}
	}
	h.fake.AddActivity(1)
	runShards(t, h, three)
	checkMoved()
}

func total(reqs map[string]int) int {
	n := 0
	for _, v := range reqs {
		n += v
	}
	return n
}

// shardConfig is the harness's config as shard sh sees it: the
// warehouse at the shard's own paths, as `labtrail --shard` sets them.
func (h *harness) shardConfig(sh Shard) *config.Config {
	cfg := *h.cfg
	cfg.Warehouse.DuckDB, cfg.Warehouse.Parquet = sh.StatePaths(h.cfg.Warehouse.DuckDB, h.cfg.Warehouse.Parquet)
	return &cfg
}

// runShards runs shards in parallel, each with its own state.
func runShards(t *testing.T, h *harness, shards []Shard) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(shards))
	for i, sh := range shards {
		wg.Go(func() {
			_, _, err := h.runWith(context.Background(), func(j *Job) { j.Config, j.Shard = h.shardConfig(sh), sh })
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %v: %v\nlogs:\n%s", shards[i], err, tail(h.logs.String(), 40))
		}
	}
}

// unionOfShards is wt.UnionOfShards over the state files of shards.
func unionOfShards(t *testing.T, h *harness, shards []Shard) *sql.DB {
	t.Helper()
	var paths []string
	for _, sh := range shards {
		paths = append(paths, h.shardConfig(sh).Warehouse.DuckDB)
	}
	return wt.UnionOfShards(t, paths)
}

// TestPlanOfAShard checks that plan sizes only a shard's part: shard 1 of
// 2 has no user or current-user scope and only projects and
// groups it owns, and the two shards' project and group scopes together
// are the unsharded plan's, each once.
func TestPlanOfAShard(t *testing.T) {
	h := newHarness(t, gitlabfake.Options{Seed: 7, Scale: smallScale()}, acmePipeline)
	scopesOf := func(sh Shard) []string {
		p, err := Planner{Config: h.shardConfig(sh), Token: token, BackoffBase: 5 * time.Millisecond, Shard: sh}.Plan(context.Background())
		if err != nil {
			t.Fatalf("plan %v: %v", sh, err)
		}
		var out []string
		for _, pp := range p.Pipelines {
			for _, sp := range pp.Scopes {
				out = append(out, sp.Scope)
			}
		}
		return out
	}
	whole := scopesOf(Shard{})
	var union []string
	for _, sh := range []Shard{{0, 2}, {1, 2}} {
		for _, sc := range scopesOf(sh) {
			kind, id, _ := strings.Cut(sc, ":")
			if kind != "project" && kind != "group" {
				if sh.Index != 0 {
					t.Errorf("shard %v plans scope %s; only shard 0 reads users and the instance", sh, sc)
				}
				continue
			}
			n, _ := strconv.ParseInt(id, 10, 64)
			if ShardOf(n, 2) != sh.Index {
				t.Errorf("shard %v plans %s, which hashes to shard %d", sh, sc, ShardOf(n, 2))
			}
			union = append(union, sc)
		}
	}
	var want []string
	for _, sc := range whole {
		if strings.HasPrefix(sc, "project:") || strings.HasPrefix(sc, "group:") {
			want = append(want, sc)
		}
	}
	slices.Sort(union)
	slices.Sort(want)
	if !slices.Equal(union, want) || len(want) < 4 {
		t.Errorf("the shards plan project and group scopes %v; the whole run %v", union, want)
	}
}

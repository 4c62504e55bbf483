package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labtrail/labtrail/schemas"
)

// MaxShards bounds N in --shard K/N: far more workers than any GitLab
// instance's rate limit could feed, and small enough that a typo (1/10000)
// is caught.
const MaxShards = 1024

// Shard is this process's part of a run that several processes share
// (`labtrail run --shard K/N`, or LABTRAIL_SHARD). Shard K of N reads the
// projects, and the groups, whose stable hash falls in K; the user,
// current-user and instance-wide scopes are read by shard 0 only. Each
// shard keeps its own state (StatePaths), so shards never contend for a
// DuckDB file; the union of the shards' tables is exactly what one
// unsharded run stores, because every scope belongs to exactly one shard
// and rows two scopes can both list (an event of a configured project,
// also listed by a configured user's events) are kept only by the owner
// of the project (see scopes.elsewhere).
//
// The zero Shard, like 0/1, is an unsharded run.
type Shard struct {
	Index, Count int
}

// ParseShard parses "K/N": 0 <= K < N <= MaxShards. The empty string is
// the unsharded run.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	k, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want K/N, for example 0/4 (K counts from 0)", s)
	}
	ki, err1 := strconv.Atoi(strings.TrimSpace(k))
	ni, err2 := strconv.Atoi(strings.TrimSpace(n))
	switch {
	case err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("shard %q: K and N must be whole numbers, as in 0/4", s)
	case ni < 1 || ni > MaxShards:
		return Shard{}, fmt.Errorf("shard %q: N must be between 1 and %d", s, MaxShards)
	case ki < 0 || ki >= ni:
		return Shard{}, fmt.Errorf("shard %q: K must be between 0 and %d (K counts from 0)", s, ni-1)
	}
	return Shard{Index: ki, Count: ni}, nil
}

// Sharded reports whether the run is split at all.
func (s Shard) Sharded() bool { return s.Count > 1 }

func (s Shard) String() string {
	if !s.Sharded() {
		return "0/1"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// primary reports whether this shard reads the scopes no hash places:
// users, the current user and the instance.
func (s Shard) primary() bool { return !s.Sharded() || s.Index == 0 }

// owns reports whether the project or group id belongs to this shard.
func (s Shard) owns(kind schemas.ScopeKind, id int64) bool {
	if !s.Sharded() {
		return true
	}
	switch kind {
	case schemas.ScopeProject, schemas.ScopeGroup:
		return ShardOf(id, s.Count) == s.Index
	default:
		return s.primary()
	}
}

// ShardOf is the shard, of n, that owns the project or group id. It
// hashes the numeric id (stable across renames and transfers, unlike a
// path) with splitmix64's finaliser, so that consecutive ids (a group's
// projects are often created together) spread evenly. It is part of the
// contract: changing it moves every project to another shard.
func ShardOf(id int64, n int) int {
	x := uint64(id)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % uint64(n))
}

// StatePaths returns where this shard keeps its warehouse, given the
// configured DuckDB file and Parquet tree: an unsharded run uses them as
// they are; shard K of N uses <stem>.shard-K-of-N<ext> beside the DuckDB
// file and the tree's subdirectory shard-K-of-N, so that one
// pipelines.yaml serves every shard and a reader globs all shards'
// Parquet files with <parquet>/*/<table>/**/*.parquet.
func (s Shard) StatePaths(duckdb, parquet string) (string, string) {
	if !s.Sharded() {
		return duckdb, parquet
	}
	name := s.name()
	ext := filepath.Ext(duckdb)
	duckdb = strings.TrimSuffix(duckdb, ext) + "." + name + ext
	if strings.Contains(parquet, "://") {
		return duckdb, strings.TrimSuffix(parquet, "/") + "/" + name
	}
	return duckdb, filepath.Join(parquet, name)
}

// OtherLayouts returns the DuckDB state files of the warehouse's other
// shard layouts, given this shard's own state file (from StatePaths): the
// unsharded file and the files of every N other than this one's, those
// that exist. A run reads them, read-only, so that moving from N to M
// shards re-reads nothing (see load.Options.Previous): watermarks move to
// the project's new shard and rows already stored under the old layout are
// never stored again.
func (s Shard) OtherLayouts(own string) ([]string, error) {
	base := own
	if s.Sharded() {
		name := "." + s.name()
		i := strings.LastIndex(own, name)
		if i < 0 {
			return nil, fmt.Errorf("shard %v: %s is not a shard's state file", s, own)
		}
		base = own[:i] + own[i+len(name):]
	}
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	matches, err := filepath.Glob(globEscape(stem) + ".shard-*-of-*" + globEscape(ext))
	if err != nil {
		return nil, err
	}
	var out []string
	if s.Sharded() {
		matches = append([]string{base}, matches...)
	}
	for _, m := range matches {
		var k, n int
		rest := strings.TrimSuffix(strings.TrimPrefix(m, stem), ext)
		if m != base {
			if _, err := fmt.Sscanf(rest, ".shard-%d-of-%d", &k, &n); err != nil || fmt.Sprintf(".shard-%d-of-%d", k, n) != rest {
				continue // not a state file of ours, e.g. a WAL
			}
			if n == max(s.Count, 1) {
				continue // this layout
			}
		}
		if _, err := os.Stat(m); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func (s Shard) name() string { return fmt.Sprintf("shard-%d-of-%d", s.Index, s.Count) }

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// ownsScope reports whether this shard reads the scope of a watermark
// key ("project:42", "group:7", "user:3", "current_user", "instance").
func (s Shard) ownsScope(key string) bool {
	kind, id, ok := strings.Cut(key, ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil {
		return s.primary()
	}
	return s.owns(schemas.ScopeKind(kind), n)
}

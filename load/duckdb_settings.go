package load

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strconv"
)

// DuckDB's settings for every database labtrail opens, chosen so that a
// labtrail process stays under 256 MiB of resident memory whatever the size of
// the warehouse (the README's "Speed and memory" has the measurements).
// DuckDB's defaults are sized for an analytics workstation: a memory limit of
// 80% of the machine's RAM and one thread per core. With them DuckDB keeps
// every block it ever read or wrote cached until that limit, so a run's
// resident memory grows with the history stored (353 MiB for a first run of
// 1.4 million events, against 264 MiB for 142,000).
//
// The settings are passed in the DSN, so they are in force before DuckDB
// replays a WAL or loads anything.
const (
	// duckMemoryLimit caps DuckDB's buffer manager: cached table and index
	// blocks, rows appended but not yet checkpointed, and the working memory
	// of queries (hash tables, sorts, windows), which spill to the temp
	// directory beyond it. A commit that cannot pin the blocks it needs
	// within the limit fails, and DuckDB then refuses the rest of the
	// process (the batches committed before stay, the run exits 1): the
	// limit must be above what a run's commits need, and that grows with
	// the fact tables' primary-key indexes. 64 MB was enough for a first
	// run of 1.4 million events before the activity table, and failed
	// after it ("failed to pin block of size 256.0 KiB (61.0 MiB/61.0 MiB
	// used)"); 128 MB completes it, at a peak of 321 MiB for the process
	// (README, "Speed and memory"). Correct runs come before the 256 MiB
	// target, which later changes met (duckBlockSize, trimCache).
	duckMemoryLimit = "128MB"
	// duckReadMemoryLimit is the memory limit of read-only opens (`sql`,
	// `status`, `plan`). A reader commits nothing, so it never needs the
	// pinned blocks a commit does: a lower limit only makes its queries
	// spill to the temp directory sooner. Measured on 2 December 2026 on a
	// warehouse of 10 million events: the label_intervals aggregation of
	// BenchmarkWarehouse10M peaked at 312 MiB with 128 MB and at 243 MiB
	// with 64 MB, in about the same time (6.0 s, 5.4 s).
	duckReadMemoryLimit = "64MB"
	// duckTrimLimit is what trimCache lowers the memory limit to after a
	// write, evicting cached blocks until no more than this is held.
	// Measured on 2 December 2026 (first runs of the bench instance,
	// anonymous memory sampled from /proc): 213 to 181 MiB at 1x and 256 to
	// 189 MiB at 10x; a 32 MB floor gave the same at 1x.
	duckTrimLimit = "16MB"
	// duckThreads is how many threads DuckDB runs queries and checkpoints
	// on. A run writes through one connection, so more threads do not
	// speed it up; each one needs working memory of its own within
	// duckMemoryLimit, so a query on a 64-core machine would otherwise
	// split 64 MB 64 ways and spill (or fail) far sooner.
	duckThreads = 2
	// duckAllocatorFlush is the allocator_flush_threshold: after a task,
	// DuckDB returns freed memory to the operating system once more than
	// this is outstanding. Its default, 128 MiB, is half of our whole
	// budget.
	duckAllocatorFlush = "16MB"
	// duckExternalFileCache is enable_external_file_cache: whether DuckDB
	// keeps the bytes of Parquet files it read in memory, for the next query
	// that reads them. labtrail's own writes never read Parquet through
	// DuckDB, and `labtrail sql` mostly runs one query per process, so the
	// cache only costs memory: a count over the 8,336 Parquet files of 10
	// million events took 151 MB with it and 67 MB without.
	duckExternalFileCache = "false"
	// duckCheckpointThreshold is the checkpoint_threshold of a writer's
	// open: high enough that DuckDB never checkpoints on its own, inside
	// a COMMIT, because labtrail checkpoints itself once the write-ahead
	// log reaches duckCheckpointWAL (see Warehouse.checkpointIfDue).
	duckCheckpointThreshold = "1TB"
	// duckCheckpointWAL is the write-ahead log size at which a writer
	// checkpoints after a batch: DuckDB's own default threshold, so the
	// checkpoints are as frequent as before and each as big.
	duckCheckpointWAL = 16 << 20
	// duckBlockSize is default_block_size: the block size of a DuckDB file
	// labtrail creates (a file keeps the size it was created with, so
	// warehouses created before keep DuckDB's 256 KiB). A block is the unit
	// DuckDB caches, pins, evicts to the temp file and reads back, and every
	// column of a row group being appended to holds at least one: a batch of
	// a few thousand rows pinned about 20 blocks of 256 KiB per table,
	// mostly empty, in each COMMIT. Measured on 3 December 2026
	// (BenchmarkPeakRSS, first runs, two each): 64 KiB blocks peaked at 189
	// and 216 MiB at 1x and 10x (anonymous 108 and 133) against 231 to 257
	// (anonymous 149 to 172) with 256 KiB, at 16,700 events/s at 10x
	// against 14,300; 16 KiB blocks at 203 and 232 MiB.
	duckBlockSize = "65536"
)

// duckDSN returns the DSN that opens the DuckDB file path with labtrail's
// settings (see duckMemoryLimit), read-only if readOnly.
//
// Spilled query data goes to a temp directory next to the file, which DuckDB
// creates only when a query first spills and deletes on close: the writer
// (a run or a compaction, which hold the warehouse lock) uses path+".tmp",
// DuckDB's own default. Read-only opens (`sql`, `status`) may run several at
// a time, and DuckDB deletes every temp file it finds in its directory on
// close, so each gets a directory of its own, path+".tmp-<random>".
func duckDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("memory_limit", duckMemoryLimit)
	q.Set("threads", strconv.Itoa(duckThreads))
	q.Set("allocator_flush_threshold", duckAllocatorFlush)
	q.Set("enable_external_file_cache", duckExternalFileCache)
	q.Set("default_block_size", duckBlockSize)
	temp := path + ".tmp"
	if readOnly {
		q.Set("memory_limit", duckReadMemoryLimit)
		q.Set("access_mode", "READ_ONLY")
		var b [4]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
		temp += "-" + hex.EncodeToString(b[:])
	} else {
		q.Set("checkpoint_threshold", duckCheckpointThreshold)
	}
	q.Set("temp_directory", temp)
	return path + "?" + q.Encode()
}

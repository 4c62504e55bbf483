// Package cmalloc tunes the C allocator DuckDB allocates from.
//
// glibc gives each thread that allocates an arena of its own, up to eight
// per core, and memory freed in one arena is not reused by another, nor
// returned to the system while anything near the top of it is live. Go
// calls into DuckDB from whichever OS thread runs the goroutine, and DuckDB
// runs threads of its own, so over a long run DuckDB's freed memory is
// spread over many arenas and the process's resident memory grows with
// the number of threads that ever allocated rather than with what is live.
package cmalloc

package load

import (
	"encoding/binary"
	"hash/maphash"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/labtrail/labtrail/schemas"
)

// upserted remembers, per dimension table, a hash of each row this
// Warehouse upserted, by id, so that UpsertDimension skips rows that would
// write the same values again. A run upserts the users, labels and
// milestones its fact rows reference with every batch, mostly the same
// rows each time (a run's rows carry the same run_id and extracted_at), and
// each upsert is a transaction with a stage table and its bridges: 200 of
// them took 1.6 s of a 16 s backfill's 11 s of writing (BenchmarkLatency,
// concurrency 32).
//
// Only UpsertDimension writes dimension rows while a Warehouse is open (it
// holds the warehouse lock), so a remembered row is the stored row. A hash
// is remembered only after its transaction committed. Guarded by the
// Warehouse's mu.
type upserted struct {
	seed  maphash.Seed
	byTab map[string]map[int64]uint64
}

func newUpserted() *upserted {
	return &upserted{seed: maphash.MakeSeed(), byTab: map[string]map[int64]uint64{}}
}

// changed returns the rows of rec (indices, each id once) whose values
// differ from what was last upserted with their id, and their hashes, for
// remember.
func (u *upserted) changed(t schemas.Table, rec arrow.RecordBatch, ids *array.Int64, rows []int) ([]int, []uint64) {
	known := u.byTab[t.Name]
	out, sums := rows[:0:0], make([]uint64, 0, len(rows))
	for _, i := range rows {
		sum := u.hashRow(rec, i)
		if h, ok := known[ids.Value(i)]; ok && h == sum {
			continue
		}
		out, sums = append(out, i), append(sums, sum)
	}
	return out, sums
}

// remember records the hashes of rows, upserted and committed.
func (u *upserted) remember(t schemas.Table, ids *array.Int64, rows []int, sums []uint64) {
	known := u.byTab[t.Name]
	if known == nil {
		known = map[int64]uint64{}
		u.byTab[t.Name] = known
	}
	for k, i := range rows {
		known[ids.Value(i)] = sums[k]
	}
}

func (u *upserted) hashRow(rec arrow.RecordBatch, i int) uint64 {
	var h maphash.Hash
	h.SetSeed(u.seed)
	for _, col := range rec.Columns() {
		hashValue(&h, col, i)
	}
	return h.Sum64()
}

// hashValue writes row i of a to h, nulls and list bounds included, so
// that different values hash differently.
func hashValue(h *maphash.Hash, a arrow.Array, i int) {
	if a.IsNull(i) {
		h.WriteByte(0)
		return
	}
	h.WriteByte(1)
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	switch a := a.(type) {
	case *array.Int64:
		put(uint64(a.Value(i)))
	case *array.Int32:
		put(uint64(a.Value(i)))
	case *array.Float64:
		put(math.Float64bits(a.Value(i)))
	case *array.Boolean:
		if a.Value(i) {
			h.WriteByte(1)
		} else {
			h.WriteByte(0)
		}
	case *array.String:
		put(uint64(len(a.Value(i))))
		h.WriteString(a.Value(i))
	case *array.Timestamp:
		put(uint64(a.Value(i)))
	case *array.Date32:
		put(uint64(a.Value(i)))
	case *array.List:
		start, end := a.ValueOffsets(i)
		put(uint64(end - start))
		for j := start; j < end; j++ {
			hashValue(h, a.ListValues(), int(j))
		}
	default:
		s := a.ValueStr(i)
		put(uint64(len(s)))
		h.WriteString(s)
	}
}

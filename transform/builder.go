// Package transform turns decoded GitLab entities (package extract) into
// Arrow record batches shaped exactly like the tables of package schemas.
//
// A Builder accumulates the rows of one table. The Append* functions each
// write one row: they are flat lists of column assignments by column name,
// and the Builder resolves the names to field builders (once per table, in
// NewBuilder), appends a null to every column a row did not set, and stamps
// the _extracted_at/_run_id columns from Meta.
//
// A mistake in this package (a column name that is not in the schema, a
// setter of the wrong type, a column set twice in one row, an Append function
// used with the builder of another table) never panics: the offending value
// is dropped, the column gets a null, and the mistake is reported by
// Builder.Err. The package's tests drive every Append function and require a
// nil Err, so such a mistake fails the tests rather than production.
package transform

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// Meta is what a run decides for every row it builds: the stamp
// (_extracted_at, _run_id) and what may be stored of internal notes.
type Meta struct {
	RunID       string
	ExtractedAt time.Time
	// KeepInternalNotes stores the bodies of internal (confidential) notes.
	// The zero value redacts them, so that a caller who forgets to decide
	// cannot leak them into a warehouse read by a wider audience.
	KeepInternalNotes bool
}

// SoftMaxColumnBytes is the amount of string data in one column of a Builder
// past which Full reports true. Arrow's String type addresses a column's data
// with int32 offsets, so a record must be cut well before 2 GiB; the
// remaining headroom is far more than any single GitLab row can carry.
const SoftMaxColumnBytes = 1 << 30

// maxErrors caps the number of distinct errors a Builder remembers.
const maxErrors = 32

type colKind uint8

const (
	kindInt64 colKind = iota
	kindString
	kindBool
	kindTimestamp
	kindDate32
	kindInt64List
	kindStringList
	kindUnsupported
)

func (k colKind) String() string {
	switch k {
	case kindInt64:
		return "int64"
	case kindString:
		return "string"
	case kindBool:
		return "bool"
	case kindTimestamp:
		return "timestamp[us, UTC]"
	case kindDate32:
		return "date32"
	case kindInt64List:
		return "list<int64>"
	case kindStringList:
		return "list<string>"
	case kindUnsupported:
		return "unsupported"
	}
	return fmt.Sprintf("colKind(%d)", uint8(k))
}

// column is one field of the table with its typed Arrow builder.
type column struct {
	name     string
	kind     colKind
	nullable bool
	meta     bool // _extracted_at or _run_id: written by endRow only
	set      bool // set in the current row

	fb       array.Builder        // the field builder, whatever its type
	lastData int                  // string data bytes of the last record cut
	i64      *array.Int64Builder  // for kindInt64List, the list's values
	str      *array.StringBuilder // for kindStringList, the list's values
	bln      *array.BooleanBuilder
	ts       *array.TimestampBuilder
	d32      *array.Date32Builder
	list     *array.ListBuilder
}

// hasStrings reports whether the column holds string data, whose size
// Full, reserve and the overflow check watch.
func (c *column) hasStrings() bool { return c.kind == kindString || c.kind == kindStringList }

// Builder accumulates rows of one table (schemas.Table) and cuts Arrow
// records. Not safe for concurrent use.
type Builder struct {
	table  schemas.Table
	rb     *array.RecordBuilder
	cols   []column
	byName map[string]int // column name -> index into cols

	// memo caches the name lookups of a row by position: the Append
	// functions set columns in the same order row after row, so the k-th
	// set of a row mostly names the same column as the k-th set of the row
	// before, and comparing two identical string constants is cheaper than
	// hashing. seq is the position in the current row.
	memo []memoEntry
	seq  int

	extractedAt   arrow.Timestamp
	runID         string
	extractedAtOK bool
	keepInternal  bool // Meta.KeepInternalNotes

	rows     int
	lastRows int // rows of the last record cut: capacity to reserve for the next
	// Per string column: past softMaxBytes Full reports true, past
	// maxStrBytes values become nulls. Fields so that tests can lower them.
	softMaxBytes, maxStrBytes int

	errs    []error
	errSeen map[string]struct{}
}

// NewBuilder returns an empty Builder for table t whose rows are stamped with
// m. Every field of t.Schema must be one of the types schemas uses (int64,
// string, bool, date32, timestamp[us], list<int64>, list<string>); a field
// of another type is reported by Err and receives nulls.
func NewBuilder(mem memory.Allocator, t schemas.Table, m Meta) *Builder {
	b := &Builder{
		table:        t,
		rb:           array.NewRecordBuilder(mem, t.Schema),
		byName:       make(map[string]int, t.Schema.NumFields()),
		runID:        strings.ToValidUTF8(m.RunID, "\uFFFD"),
		keepInternal: m.KeepInternalNotes,
		softMaxBytes: SoftMaxColumnBytes,
		maxStrBytes:  math.MaxInt32,
	}
	if ts, ok := timestamp(m.ExtractedAt); ok {
		b.extractedAt, b.extractedAtOK = ts, true
	} else {
		b.errorf("transform: %s: Meta.ExtractedAt is zero or out of range", t.Name)
	}
	b.cols = make([]column, t.Schema.NumFields())
	for i, f := range t.Schema.Fields() {
		c := &b.cols[i]
		c.name, c.nullable, c.fb = f.Name, f.Nullable, b.rb.Field(i)
		c.meta = f.Name == schemas.ColExtractedAt || f.Name == schemas.ColRunID
		switch fb := c.fb.(type) {
		case *array.Int64Builder:
			c.kind, c.i64 = kindInt64, fb
		case *array.StringBuilder:
			c.kind, c.str = kindString, fb
		case *array.BooleanBuilder:
			c.kind, c.bln = kindBool, fb
		case *array.TimestampBuilder:
			c.kind, c.ts = kindTimestamp, fb
			if tt := f.Type.(*arrow.TimestampType); tt.Unit != arrow.Microsecond {
				b.errorf("transform: %s.%s: timestamp unit %s, want us", t.Name, f.Name, tt.Unit)
				c.kind = kindUnsupported
			}
		case *array.Date32Builder:
			c.kind, c.d32 = kindDate32, fb
		case *array.ListBuilder:
			c.kind, c.list = kindUnsupported, fb
			switch vb := fb.ValueBuilder().(type) {
			case *array.Int64Builder:
				c.kind, c.i64 = kindInt64List, vb
			case *array.StringBuilder:
				c.kind, c.str = kindStringList, vb
			}
			if c.kind == kindUnsupported {
				b.errorf("transform: %s.%s: unsupported Arrow type %s", t.Name, f.Name, f.Type)
			}
		default:
			c.kind = kindUnsupported
			b.errorf("transform: %s.%s: unsupported Arrow type %s", t.Name, f.Name, f.Type)
		}
		if c.kind == kindUnsupported {
			continue // not addressable by name: the column gets only nulls
		}
		if _, dup := b.byName[f.Name]; dup {
			b.errorf("transform: %s: duplicate column %q", t.Name, f.Name)
			continue
		}
		b.byName[f.Name] = i
	}
	return b
}

// Table returns the table this Builder builds.
func (b *Builder) Table() schemas.Table { return b.table }

// Len returns the number of rows appended since the last NewRecord.
func (b *Builder) Len() int { return b.rows }

// Full reports whether some string column holds SoftMaxColumnBytes or more:
// the caller should cut a record (NewRecord) before appending more rows
// (the pipeline stores a builder when it is Full or holds a batch).
// A value that would overflow a column's 2 GiB limit is never written: it
// becomes a null and is reported by Err.
func (b *Builder) Full() bool {
	for i := range b.cols {
		if c := &b.cols[i]; c.hasStrings() && c.str.DataLen() >= b.softMaxBytes {
			return true
		}
	}
	return false
}

// NewRecord returns the rows so far (caller must Release) and resets the
// builder. Its schema is the table's schema (the same *arrow.Schema).
// arrow.RecordBatch and arrow.Record are the same type.
func (b *Builder) NewRecord() arrow.RecordBatch {
	b.abortRow()
	b.lastRows = min(b.rows, maxReserveRows)
	for i := range b.cols {
		if c := &b.cols[i]; c.hasStrings() {
			c.lastData = min(c.str.DataLen(), maxReserveBytes)
		}
	}
	rec := b.rb.NewRecordBatch()
	b.rows = 0
	return rec
}

// Limits of what a Builder reserves for a record like the last one it cut.
const (
	maxReserveRows  = 1 << 16
	maxReserveBytes = 64 << 20
)

// reserve makes room for a record as large as the last one, in one
// allocation per buffer rather than a series of doublings. It runs after the
// first row of a record, so that a builder that is no longer used holds no
// more memory.
func (b *Builder) reserve() {
	b.rb.Reserve(b.lastRows)
	for i := range b.cols {
		if c := &b.cols[i]; c.hasStrings() && c.lastData > 0 {
			c.str.ReserveData(c.lastData)
		}
	}
}

// Release releases the memory held by the builder's pending rows.
func (b *Builder) Release() {
	if b.rb != nil {
		b.rb.Release()
		b.rb = nil
	}
}

// Err returns the mistakes met since NewBuilder (they are not cleared by
// NewRecord): unknown columns, setters of the wrong type, columns set twice
// in one row, values that cannot be represented (a string that would overflow
// a column, a time outside the range of microsecond timestamps). Each
// mistake replaced a value with a null; no row was lost or shifted.
func (b *Builder) Err() error { return errors.Join(b.errs...) }

func (b *Builder) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if _, ok := b.errSeen[msg]; ok {
		return
	}
	if len(b.errs) >= maxErrors {
		return
	}
	if b.errSeen == nil {
		b.errSeen = make(map[string]struct{})
	}
	b.errSeen[msg] = struct{}{}
	b.errs = append(b.errs, errors.New(msg))
}

type memoEntry struct {
	name string
	idx  int
}

// index returns the index of the column called name.
func (b *Builder) index(name string) (int, bool) {
	k := b.seq
	b.seq++
	if k < len(b.memo) && b.memo[k].name == name {
		return b.memo[k].idx, true
	}
	i, ok := b.byName[name]
	if !ok {
		return 0, false
	}
	switch {
	case k < len(b.memo):
		b.memo[k] = memoEntry{name, i}
	case k == len(b.memo) && k < len(b.cols):
		b.memo = append(b.memo, memoEntry{name, i})
	}
	return i, true
}

// col returns the column called name if it has kind k and was not yet set in
// this row, and marks it set; otherwise it records the mistake and returns
// nil (the column keeps, or gets, a null).
func (b *Builder) col(name string, k colKind) *column {
	i, ok := b.index(name)
	if !ok {
		b.errorf("transform: %s: no column %q", b.table.Name, name)
		return nil
	}
	c := &b.cols[i]
	switch {
	case c.meta:
		b.errorf("transform: %s.%s: set from Meta only", b.table.Name, name)
		return nil
	case c.kind != k:
		b.errorf("transform: %s.%s: is %s, set as %s", b.table.Name, name, c.kind, k)
		return nil
	case c.set:
		b.errorf("transform: %s.%s: set twice in one row", b.table.Name, name)
		return nil
	}
	c.set = true
	return c
}

// endRow completes the current row: every column that was not set gets a
// null (a zero value if the column is not nullable, which is reported), and
// the Meta columns are stamped.
func (b *Builder) endRow() {
	b.seq = 0
	for i := range b.cols {
		c := &b.cols[i]
		if c.set {
			c.set = false
			continue
		}
		switch {
		case c.meta && c.kind == kindTimestamp && c.name == schemas.ColExtractedAt && b.extractedAtOK:
			c.ts.Append(b.extractedAt)
		case c.meta && c.kind == kindString && c.name == schemas.ColRunID:
			c.str.Append(b.runID)
		case c.nullable:
			c.fb.AppendNull()
		default:
			b.errorf("transform: %s.%s: not nullable and not set", b.table.Name, c.name)
			c.fb.AppendEmptyValue()
		}
	}
	b.rows++
	if b.rows == 1 && b.lastRows > 1 {
		b.reserve()
	}
}

// abortRow drops the values of a row that was started but not ended (which
// only a mistake in this package can cause), so that all columns have the
// same length again.
func (b *Builder) abortRow() {
	b.seq = 0
	started := false
	for i := range b.cols {
		if b.cols[i].set {
			started = true
			break
		}
	}
	if !started {
		return
	}
	b.errorf("transform: %s: row started but not ended", b.table.Name)
	for i := range b.cols {
		c := &b.cols[i]
		c.set = false
		if c.fb.Len() > b.rows {
			c.fb.Resize(b.rows)
		}
	}
}

// Typed setters. Each sets one column of the current row; a nil pointer, a
// zero time and (for the *NZ variants) a zero value give a null.

func (b *Builder) setInt64(name string, v *int64) {
	if c := b.col(name, kindInt64); c != nil {
		if v == nil {
			c.i64.AppendNull()
		} else {
			c.i64.Append(*v)
		}
	}
}

func (b *Builder) setInt64Val(name string, v int64) {
	if c := b.col(name, kindInt64); c != nil {
		c.i64.Append(v)
	}
}

// setInt64NZ sets v, or null when v is 0 (GitLab ids and iids start at 1).
func (b *Builder) setInt64NZ(name string, v int64) {
	if c := b.col(name, kindInt64); c != nil {
		if v == 0 {
			c.i64.AppendNull()
		} else {
			c.i64.Append(v)
		}
	}
}

func (b *Builder) setString(name string, v *string) {
	if v == nil {
		b.setNull(name, kindString)
		return
	}
	b.setStringVal(name, *v)
}

func (b *Builder) setStringVal(name string, v string) {
	if c := b.col(name, kindString); c != nil {
		b.appendString(c, v)
	}
}

// appendString appends v to c's strings (the column, or the current list's
// elements): valid UTF-8, or a null if it would overflow the column.
func (b *Builder) appendString(c *column, v string) {
	if !utf8.ValidString(v) {
		// Arrow strings, Parquet and DuckDB want UTF-8. Strings decoded by
		// encoding/json always are; Parent and Meta strings might not be.
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if c.str.DataLen() > b.maxStrBytes-len(v) {
		b.errorf("transform: %s.%s: string of %d bytes would overflow the column (%d bytes buffered); stored as null",
			b.table.Name, c.name, len(v), c.str.DataLen())
		c.str.AppendNull()
		return
	}
	c.str.Append(v)
}

// setStringNZ sets v, or null when v is "".
func (b *Builder) setStringNZ(name string, v string) {
	if v == "" {
		b.setNull(name, kindString)
		return
	}
	b.setStringVal(name, v)
}

func (b *Builder) setBool(name string, v *bool) {
	if c := b.col(name, kindBool); c != nil {
		if v == nil {
			c.bln.AppendNull()
		} else {
			c.bln.Append(*v)
		}
	}
}

// setTime sets the instant t as UTC microseconds; a zero t gives null.
func (b *Builder) setTime(name string, t time.Time) {
	c := b.col(name, kindTimestamp)
	if c == nil {
		return
	}
	ts, ok := timestamp(t)
	if !ok {
		if !t.IsZero() {
			b.errorf("transform: %s.%s: time %s out of range; stored as null", b.table.Name, name, t)
		}
		c.ts.AppendNull()
		return
	}
	c.ts.Append(ts)
}

func (b *Builder) setTimePtr(name string, t *time.Time) {
	if t == nil {
		b.setNull(name, kindTimestamp)
		return
	}
	b.setTime(name, *t)
}

// setDate sets the calendar date of d; nil or a zero date gives null.
func (b *Builder) setDate(name string, d *extract.Date) {
	c := b.col(name, kindDate32)
	if c == nil {
		return
	}
	if d == nil || d.IsZero() {
		c.d32.AppendNull()
		return
	}
	v, ok := date32(d.Time)
	if !ok {
		b.errorf("transform: %s.%s: date %s out of range; stored as null", b.table.Name, name, d.Time)
		c.d32.AppendNull()
		return
	}
	c.d32.Append(v)
}

// setInt64List sets a list of vs; a nil vs gives null, an empty one an
// empty list (GitLab's "assignees": [] is not its absence).
func (b *Builder) setInt64List(name string, vs []int64) {
	if c := b.col(name, kindInt64List); c != nil {
		if vs == nil {
			c.list.AppendNull()
			return
		}
		c.list.Append(true)
		c.i64.AppendValues(vs, nil)
	}
}

// setInt64PtrList sets a list of vs whose nil elements are null; a nil vs
// gives null.
func (b *Builder) setInt64PtrList(name string, vs []*int64) {
	if c := b.col(name, kindInt64List); c != nil {
		if vs == nil {
			c.list.AppendNull()
			return
		}
		c.list.Append(true)
		for _, v := range vs {
			if v == nil {
				c.i64.AppendNull()
			} else {
				c.i64.Append(*v)
			}
		}
	}
}

// setStringList sets a list of vs; nil gives null, empty an empty list.
func (b *Builder) setStringList(name string, vs []string) {
	if c := b.col(name, kindStringList); c != nil {
		if vs == nil {
			c.list.AppendNull()
			return
		}
		c.list.Append(true)
		for _, v := range vs {
			b.appendString(c, v)
		}
	}
}

// setNull sets the column to null explicitly (an unset column is null too).
func (b *Builder) setNull(name string, k colKind) {
	if c := b.col(name, k); c != nil {
		c.fb.AppendNull()
	}
}

// Microsecond timestamps cover about ±292,000 years around 1970; stay well
// inside so that UnixMicro cannot overflow.
const maxAbsYear = 290000

// timestamp converts t to UTC microseconds since the epoch. A zero t, or one
// too far from 1970 for int64 microseconds, gives ok == false.
func timestamp(t time.Time) (ts arrow.Timestamp, ok bool) {
	if t.IsZero() {
		return 0, false
	}
	if y := t.Year(); y > maxAbsYear || y < -maxAbsYear {
		return 0, false
	}
	return arrow.Timestamp(t.UnixMicro()), true
}

// date32 converts the calendar date of t (in t's own location, which for
// extract.Date is UTC) into days since 1970-01-01.
func date32(t time.Time) (arrow.Date32, bool) {
	if y := t.Year(); y > maxAbsYear || y < -maxAbsYear {
		return 0, false
	}
	y, m, d := t.Date()
	days := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	if days > math.MaxInt32 || days < math.MinInt32 {
		return 0, false
	}
	return arrow.Date32(days), true
}

// Package tabular prints SQL result sets for people (aligned tables) and
// for programs (CSV that loads back into DuckDB, JSON lines).
package tabular

import (
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/labtrail/labtrail/internal/redact"
)

// Formats accepted by Write.
const (
	Table = "table"
	CSV   = "csv"
	JSON  = "json"
)

// maxCell bounds a cell's width in table output; CSV and JSON are never cut
// (nor escaped: programs read them back byte for byte).
const maxCell = 60

// Write prints rows in format and returns how many rows it printed. It
// closes nothing: the caller owns rows.
func Write(w io.Writer, rows *sql.Rows, format string) (int, error) {
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	var data [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		data = append(data, vals)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return len(data), WriteValues(w, cols, data, format)
}

// WriteValues prints data (rows of values as database/sql scans them, nil
// for NULL) under the column names cols, in format.
func WriteValues(w io.Writer, cols []string, data [][]any, format string) error {
	switch format {
	case CSV:
		return writeCSV(w, cols, data)
	case JSON:
		return writeJSON(w, cols, data)
	case Table, "":
		return writeTable(w, cols, data)
	default:
		return fmt.Errorf("unknown format %q (want table, csv or json)", format)
	}
}

// text renders a value for table and CSV output. Null is empty in CSV (so
// DuckDB's reader sees NULL) and "NULL" in tables.
func text(v any, null string) string {
	switch x := v.(type) {
	case nil:
		return null
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 && x.Location() == time.UTC {
			return x.Format(time.DateOnly)
		}
		return x.Format("2006-01-02 15:04:05.999999Z07:00")
	case []byte:
		return string(x)
	case duckdb.Interval:
		return interval(x)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

func writeCSV(w io.Writer, cols []string, data [][]any) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	rec := make([]string, len(cols))
	for _, row := range data {
		for i, v := range row {
			rec[i] = text(v, "")
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeJSON(w io.Writer, cols []string, data [][]any) error {
	enc := json.NewEncoder(w)
	for _, row := range data {
		obj := make(map[string]any, len(cols))
		for i, v := range row {
			switch x := v.(type) {
			case time.Time, fmt.Stringer, duckdb.Interval:
				obj[cols[i]] = text(x, "")
			case []byte:
				obj[cols[i]] = string(x)
			default:
				obj[cols[i]] = v
			}
		}
		if err := enc.Encode(obj); err != nil {
			return err
		}
	}
	return nil
}

func writeTable(w io.Writer, cols []string, data [][]any) error {
	// GitLab data (titles, note bodies) may hold escape codes, newlines and
	// bidi overrides that would recolour the terminal or break the grid:
	// tables show them escaped, and are measured and cut after escaping.
	// Column names can be data too (PIVOT).
	cells := make([][]string, len(data))
	head := make([]string, len(cols))
	width := make([]int, len(cols))
	for i, c := range cols {
		head[i] = redact.Escape(c)
		width[i] = utf8.RuneCountInString(head[i])
	}
	for r, row := range data {
		cells[r] = make([]string, len(row))
		for i, v := range row {
			s := redact.Escape(text(v, "NULL"))
			if utf8.RuneCountInString(s) > maxCell {
				s = string([]rune(s)[:maxCell-1]) + "…"
			}
			cells[r][i] = s
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	line := func(vals []string) {
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(v)
			if i < len(vals)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(v)))
			}
		}
		b.WriteByte('\n')
	}
	line(head)
	sep := make([]string, len(cols))
	for i := range cols {
		sep[i] = strings.Repeat("-", width[i])
	}
	b.WriteString(strings.Join(sep, "-+-") + "\n")
	for _, row := range cells {
		line(row)
	}
	fmt.Fprintf(&b, "(%d row%s)\n", len(data), map[bool]string{true: "", false: "s"}[len(data) == 1])
	_, err := io.WriteString(w, b.String())
	return err
}

// interval renders a DuckDB INTERVAL the way DuckDB prints it
// ("1 month 14 days 02:54:49.137"), which read_csv parses back.
func interval(iv duckdb.Interval) string {
	var parts []string
	plural := func(n int64, unit string) {
		if n != 0 {
			s := ""
			if n != 1 && n != -1 {
				s = "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s%s", n, unit, s))
		}
	}
	plural(int64(iv.Months/12), "year")
	plural(int64(iv.Months%12), "month")
	plural(int64(iv.Days), "day")
	if us := iv.Micros; us != 0 || len(parts) == 0 {
		sign := ""
		if us < 0 {
			sign, us = "-", -us
		}
		d := time.Duration(us) * time.Microsecond
		h, m, sec := int64(d/time.Hour), int64(d%time.Hour/time.Minute), d%time.Minute
		clock := fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, int64(sec/time.Second))
		if frac := us % 1_000_000; frac != 0 {
			clock += strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")
		}
		parts = append(parts, clock)
	}
	return strings.Join(parts, " ")
}

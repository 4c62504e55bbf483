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
)

// Formats accepted by Write.
const (
	Table = "table"
	CSV   = "csv"
	JSON  = "json"
)

// maxCell bounds a cell's width in table output; CSV and JSON are never cut.
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
	switch format {
	case CSV:
		return len(data), writeCSV(w, cols, data)
	case JSON:
		return len(data), writeJSON(w, cols, data)
	case Table, "":
		return len(data), writeTable(w, cols, data)
	default:
		return 0, fmt.Errorf("unknown format %q (want table, csv or json)", format)
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
			case time.Time, fmt.Stringer:
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
	cells := make([][]string, len(data))
	width := make([]int, len(cols))
	for i, c := range cols {
		width[i] = utf8.RuneCountInString(c)
	}
	for r, row := range data {
		cells[r] = make([]string, len(row))
		for i, v := range row {
			s := strings.ReplaceAll(text(v, "NULL"), "\n", "⏎")
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
	line(cols)
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

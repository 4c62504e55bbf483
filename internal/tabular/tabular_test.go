package tabular

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
)

func TestIntervalRendersLikeDuckDB(t *testing.T) {
	for _, c := range []struct {
		iv   duckdb.Interval
		want string
	}{
		{duckdb.Interval{Days: 14, Micros: 10489137000}, "14 days 02:54:49.137"},
		{duckdb.Interval{Months: 13, Days: 1}, "1 year 1 month 1 day"},
		{duckdb.Interval{}, "00:00:00"},
		{duckdb.Interval{Micros: -90_000_000}, "-00:01:30"},
	} {
		if got := interval(c.iv); got != c.want {
			t.Errorf("interval(%+v) = %q, want %q", c.iv, got, c.want)
		}
	}
}

// hostile is GitLab text that would recolour a terminal, break a table's
// grid or reorder what it shows.
var hostile = []string{"a\x1b[31mb\nc", "tab\there", "\u202eexe.txt", "cr\r\nlf", "\x00\x7f\u0085", "plain"}

// query runs q on an in-memory DuckDB and returns its rows, open.
func query(t *testing.T, q string, args ...any) *sql.Rows {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	t.Cleanup(func() { rows.Close() })
	return rows
}

func TestTableEscapesControlCharacters(t *testing.T) {
	rows := query(t, `SELECT * FROM (VALUES (?::VARCHAR, 1), ('plain', 22)) t(title, n)`, "a\x1b[31mb\nc")
	var b strings.Builder
	if _, err := Write(&b, rows, Table); err != nil {
		t.Fatal(err)
	}
	want := `title         | n
--------------+---
a\x1b[31mb\nc | 1
plain         | 22
(2 rows)
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Error("table output holds a raw ESC")
	}
}

func TestTableCutsAfterEscaping(t *testing.T) {
	for _, c := range []struct {
		cell any
		want string
	}{
		{strings.Repeat("\x1b", 30), strings.Repeat(`\x1b`, 15)[:maxCell-1] + "…"},
		{"x\u202ey\u2066", `x\u202ey\u2066`},
		{[]byte("nul\x00"), `nul\x00`},
		{"caf\xe9", "caf\uFFFD"},
	} {
		var b strings.Builder
		if err := writeTable(&b, []string{"h\n"}, [][]any{{c.cell}}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(b.String(), "\n")
		if len(lines) != 5 || lines[0] != `h\n` || lines[2] != c.want {
			t.Errorf("table of %q:\n%s\nwant cell %q", c.cell, b.String(), c.want)
		}
	}
}

// TestCSVAndJSONKeepBytes: programs read these formats back, so control
// characters must survive them unchanged.
func TestCSVAndJSONKeepBytes(t *testing.T) {
	values := "SELECT * FROM (VALUES " + strings.TrimSuffix(strings.Repeat("(?::VARCHAR), ", len(hostile)), ", ") + ") t(v)"
	args := make([]any, len(hostile))
	for i, h := range hostile {
		args[i] = h
	}

	var js bytes.Buffer
	if _, err := Write(&js, query(t, values, args...), JSON); err != nil {
		t.Fatal(err)
	}
	var fromJSON []string
	for dec := json.NewDecoder(&js); dec.More(); {
		var obj struct{ V string }
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		fromJSON = append(fromJSON, obj.V)
	}
	if !slices.Equal(fromJSON, hostile) {
		t.Errorf("JSON read back as %q, want %q", fromJSON, hostile)
	}

	var csv bytes.Buffer
	if _, err := Write(&csv, query(t, values, args...), CSV); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(csv.Bytes(), []byte("a\x1b[31mb\nc")) {
		t.Errorf("CSV does not hold the raw bytes:\n%q", csv.String())
	}
	path := filepath.Join(t.TempDir(), "out.csv")
	if err := os.WriteFile(path, csv.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	rows := query(t, `SELECT v FROM read_csv(?, header = true, columns = {'v': 'VARCHAR'})`, path)
	var fromCSV []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		fromCSV = append(fromCSV, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromCSV, hostile) {
		t.Errorf("CSV read back as %q, want %q", fromCSV, hostile)
	}
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/labtrail/labtrail/internal/tabular"
)

// cmdSQL runs one query against the warehouse, opened read-only, or reads
// queries from stdin (an interactive prompt on a terminal) when none is
// given. It needs no DuckDB CLI.
func cmdSQL(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("sql", stderr, &c)
	format := fs.String("format", tabular.Table, "output format: table, csv or json")
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	switch *format {
	case tabular.Table, tabular.CSV, tabular.JSON:
	default:
		oneLine(stderr, fmt.Errorf("--format: want table, csv or json, got %q", *format))
		return exitUsage
	}
	cfg, db, code := c.openReadOnly(ctx, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	query := func(q string) error {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		_, err = tabular.Write(stdout, rows, *format)
		return err
	}
	if len(pos) > 0 {
		if err := query(strings.Join(pos, " ")); err != nil {
			oneLine(stderr, err)
			return exitFailed
		}
		return exitOK
	}
	interactive := false
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			interactive = true
		}
	}
	if interactive {
		fmt.Fprintf(stderr, "labtrail sql on %s (read-only). End statements with ';', quit with Ctrl-D or \\q.\n", cfg.Warehouse.DuckDB)
	}
	if failed := readStatements(stdin, stderr, interactive, query); failed && !interactive {
		return exitFailed
	}
	return exitOK
}

// readStatements runs each ';'-terminated statement read from in (and a
// last unterminated one), prompting on stderr when interactive. Errors are
// printed and reading goes on; it reports whether any statement failed.
func readStatements(in io.Reader, stderr io.Writer, interactive bool, query func(string) error) (failed bool) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var stmt strings.Builder
	prompt := func() {
		if interactive {
			if stmt.Len() == 0 {
				fmt.Fprint(stderr, "labtrail> ")
			} else {
				fmt.Fprint(stderr, "     ...> ")
			}
		}
	}
	run := func() {
		if q := strings.TrimSpace(stmt.String()); q != "" {
			if err := query(q); err != nil {
				fmt.Fprintln(stderr, "error:", err)
				failed = true
			}
		}
		stmt.Reset()
	}
	prompt()
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == `\q` {
			break
		}
		stmt.WriteString(line + "\n")
		if strings.HasSuffix(strings.TrimSpace(stmt.String()), ";") {
			run()
		}
		prompt()
	}
	run()
	return failed
}

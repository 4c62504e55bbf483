package main

import (
	"context"
	"fmt"
	"io"

	"github.com/labtrail/labtrail/internal/tabular"
	"github.com/labtrail/labtrail/schemas"
)

// cmdStatus prints, per table, its rows and newest created_at, then the
// watermarks and the last runs.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("status", stderr, &c)
	if _, err := parse(fs, args); err != nil {
		return exitUsage
	}
	_, db, code := c.openReadOnly(ctx, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	var union string
	for i, t := range schemas.All() {
		if i > 0 {
			union += " UNION ALL "
		}
		newest := "NULL::TIMESTAMPTZ"
		if t.Schema.HasField(schemas.ColCreatedAt) {
			newest = "max(created_at)"
		}
		union += fmt.Sprintf("SELECT %d AS n, '%s' AS \"table\", count(*) AS rows, %s AS newest_created_at FROM %s",
			i, t.Name, newest, t.Name)
	}
	sections := []struct{ title, query string }{
		{"Tables", "SELECT \"table\", rows, newest_created_at FROM (" + union + ") ORDER BY n"},
		{"Watermarks", "SELECT pipeline, scope, stream, value AS watermark, updated_at FROM _labtrail_watermarks ORDER BY pipeline, scope, stream"},
		{"Last runs", "SELECT * FROM _labtrail_runs ORDER BY started_at DESC LIMIT 10"},
	}
	for _, s := range sections {
		fmt.Fprintf(stdout, "%s\n", s.title)
		rows, err := db.QueryContext(ctx, s.query)
		if err != nil {
			oneLine(stderr, fmt.Errorf("%s: %w", s.title, err))
			return exitFailed
		}
		_, err = tabular.Write(stdout, rows, tabular.Table)
		rows.Close()
		if err != nil {
			oneLine(stderr, err)
			return exitFailed
		}
		fmt.Fprintln(stdout)
	}
	return exitOK
}

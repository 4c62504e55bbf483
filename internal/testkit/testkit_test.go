package testkit_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/labtrail/labtrail/internal/testkit"
)

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b testkit.SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 800) {
		t.Fatalf("%d bytes, want 800", len(got))
	}
}

func TestRowsKeepOrderAndRenderCells(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cell := func(v any) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprint(v)
	}
	got := testkit.Rows(t, db, cell, "SELECT * FROM (VALUES (2, 'b'), (1, NULL), (?, 'c')) t(n, s)", 3)
	if want := []string{"2|b", "1|null", "3|c"}; !slices.Equal(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
}

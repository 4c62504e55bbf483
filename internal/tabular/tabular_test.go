package tabular

import (
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

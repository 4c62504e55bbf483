package load

import (
	"testing"
	"time"

	"github.com/labtrail/labtrail/schemas"
)

// A finished window commits with its rows, is listed by Windows, and is
// forgotten when the stream's watermark is written.
func TestWindows(t *testing.T) {
	e := newEnv(t)
	w := e.open("run1")
	defer e.close(w)
	k := WatermarkKey{"p", "project:1", "events"}
	day := func(s string) time.Time { return mustTime(t, s+"T00:00:00Z") }
	win := Window{WatermarkKey: k, First: day("2024-03-01"), Last: day("2024-03-10"), Newest: mustTime(t, "2024-03-10T12:00:00Z")}
	e.mustAppend(w, schemas.Events, events(t, "2024-03-05T00:00:00Z", 1, 2), win)
	e.mustAppend(w, schemas.Events, nil, Window{WatermarkKey: k, First: day("2024-03-11"), Last: day("2024-03-11")})
	got, err := w.Windows(e.ctx, k)
	if err != nil || len(got) != 2 || got[0] != win || !got[1].Newest.IsZero() || !got[1].First.Equal(day("2024-03-11")) {
		t.Fatalf("Windows = %+v %v", got, err)
	}
	if _, err := e.append(w, schemas.Events, nil, Window{WatermarkKey: k, First: day("2024-03-11"), Last: day("2024-03-01")}); err == nil {
		t.Error("a window ending before it starts was accepted")
	}
	e.mustAppend(w, schemas.Events, events(t, "2024-03-12T00:00:00Z", 3), Watermark{k, mustTime(t, "2024-03-12T00:00:00Z")})
	if got, err := w.Windows(e.ctx, k); err != nil || len(got) != 0 {
		t.Errorf("windows after the watermark: %+v %v", got, err)
	}
}

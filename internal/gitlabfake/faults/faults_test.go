package faults

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

var okBody = `{"id":1,"username":"root"}`

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, okBody) })
}

func record(h http.Handler) *httptest.ResponseRecorder {
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/api/v4/user", nil))
	return rr
}

// The script comes first, in order; then the periodic faults count all
// requests, scripted ones included.
func TestScriptThenPeriodic(t *testing.T) {
	f := New(0, Settings{FailEvery: 4, Script: []Fault{Throttle, CutJSON, None, Fail}})
	h := Inject(okHandler(), f)
	var got []string
	for range 8 {
		rr := record(h)
		got = append(got, http.StatusText(rr.Code)+":"+rr.Body.String())
	}
	want := []string{"Too Many Requests:Retry later\n", "OK:" + okBody[:len(okBody)/2], "OK:" + okBody,
		`Internal Server Error:{"message":"500 Internal Server Error"}`, "OK:" + okBody, "OK:" + okBody, "OK:" + okBody,
		`Bad Gateway:{"message":"502 Bad Gateway"}`}
	if !slices.Equal(got, want) {
		t.Fatalf("answers\n%q\nwant\n%q", got, want)
	}
	if f.Requests() != 8 {
		t.Fatalf("Requests() = %d", f.Requests())
	}
	f.Set(Settings{})
	if rr := record(h); rr.Code != http.StatusOK || rr.Header().Get("RateLimit-Limit") != "2000" {
		t.Fatalf("faults off: %d %v", rr.Code, rr.Header())
	}
}

// A cut finds nothing to cut in an error answer: that is sent whole.
func TestCutLeavesErrorsWhole(t *testing.T) {
	h := Inject(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"404 Not Found"}`)
	}), New(0, Settings{CutEvery: 1}))
	if rr := record(h); rr.Code != http.StatusNotFound || rr.Body.String() != `{"message":"404 Not Found"}` {
		t.Fatalf("%d %q", rr.Code, rr.Body.String())
	}
}

func TestLatencyAndHang(t *testing.T) {
	f := New(0, Settings{Latency: 50 * time.Millisecond})
	h := Inject(okHandler(), f)
	start := time.Now()
	if rr := record(h); rr.Code != http.StatusOK || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("%d after %s", rr.Code, time.Since(start))
	}
	f.Set(Settings{Script: []Fault{Hang}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	if rr.Body.Len() != 0 || ctx.Err() == nil {
		t.Fatalf("a hung request was answered: %q", rr.Body.String())
	}
}

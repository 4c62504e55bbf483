//go:build linux

// The bars test needs a pseudo-terminal (mpb draws nothing on a writer that
// is not a terminal), which is opened with Linux ioctls; hence the build
// constraint on the whole file.

package progress

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sys/unix"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/internal/pipeline"
	"github.com/labtrail/labtrail/internal/testkit"
)

const testToken = "glpat-progress-test"

// finishedRun runs labtrail once against a small fake GitLab and returns
// its counters and client. pipeline.Counters creates a stream only from
// inside package pipeline (its counting methods are unexported), so a real
// run is the only way to get Counters with streams from here.
func finishedRun(t *testing.T) (*pipeline.Counters, *extract.Client) {
	t.Helper()
	fake := gitlabfake.New(gitlabfake.Options{Seed: 7, Token: testToken, RateLimitPerMinute: 1_000_000,
		Scale: gitlabfake.Scale{Users: 4, IssuesPerProject: 5, MRsPerProject: 3, EpicsPerGroup: 2,
			EventsPerProject: 40, BigProjectEvents: 60, ResourceEventsPerParent: 3}})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	doc := fmt.Sprintf(`gitlab:
  url: %s
  token_env: T
  concurrency: 2
warehouse:
  duckdb: %s
  parquet: %s
pipelines:
  - name: acme
    groups: [acme]
    users: [alice]
    since: 2024-01-01
`, srv.URL, filepath.Join(dir, "gitlab.duckdb"), filepath.Join(dir, "parquet"))
	cfg, err := config.Parse([]byte(doc), func(k string) (string, bool) { return testToken, k == "T" })
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	p := pipeline.NewCounters()
	var client *extract.Client
	rep, err := pipeline.Job{Config: cfg, Token: testToken, Mem: mem, Counters: p, BackoffBase: time.Millisecond,
		Watch: func(c *extract.Client) func() { client = c; return func() {} }}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mem.AssertSize(t, 0)
	if rep.Err != nil || len(rep.Failures) > 0 {
		t.Fatalf("run: %v %+v", rep.Err, rep.Failures)
	}
	if len(p.Streams()) < 3 || client.Stats.Requests.Load() == 0 {
		t.Fatalf("the run counted too little: %d streams, %d requests", len(p.Streams()), client.Stats.Requests.Load())
	}
	return p, client
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// waitFor polls until cond holds. The deadline only bounds a failure; it
// is far longer than the few hundred milliseconds the conditions need.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openPTY returns the two ends of a new pseudo-terminal of 50 rows by 200
// columns, or skips the test if the system has none.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var n uint32
	err = withFd(m, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN)
		return err
	})
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := withFd(s, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 200})
	}); err != nil {
		m.Close()
		s.Close()
		t.Fatal(err)
	}
	return m, s
}

// withFd runs fn on f's descriptor without switching f to blocking mode
// (which File.Fd would do, and which would keep Close from interrupting a
// Read).
func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func TestDetect(t *testing.T) {
	if got := Detect(&bytes.Buffer{}); got != Lines {
		t.Errorf("Detect(buffer) = %v, want Lines", got)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := Detect(f); got != Lines {
		t.Errorf("Detect(regular file) = %v, want Lines", got)
	}
	master, slave := openPTY(t)
	defer master.Close()
	defer slave.Close()
	if got := Detect(slave); got != Bars {
		t.Errorf("Detect(terminal) = %v, want Bars", got)
	}
}

func TestOffShowsNothing(t *testing.T) {
	c, err := extract.NewClient(extract.Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	var out, logs testkit.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	Start(&out, Options{Mode: Off, Log: log, Sink: NewLogSink(&out)}, pipeline.NewCounters(), c)()
	Start(&out, Options{Mode: Off, Log: log}, nil, c)()
	if out.String() != "" || logs.String() != "" {
		t.Errorf("Off mode wrote %q and logged %q", out.String(), logs.String())
	}
}

// TestBarsOnTerminal shows the bars of a finished run on a pseudo-terminal
// until every stream's final row count and the request count are drawn, and
// checks that log lines written through the sink, while the bars are up and
// after, reach the terminal too. (On a plain bytes.Buffer mpb draws nothing
// at all: it only renders to a terminal.)
func TestBarsOnTerminal(t *testing.T) {
	p, c := finishedRun(t)
	master, slave := openPTY(t)
	defer master.Close()
	var screen testkit.SyncBuffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()

	sink := NewLogSink(slave)
	log := slog.New(slog.NewTextHandler(sink, nil))
	stop := Start(slave, Options{Mode: Bars, Log: log, Sink: sink}, p, c)
	defer stop() // on a failure below; runs before master.Close
	// What must be drawn, at least once each: the request count, and per
	// stream a line with its name and its final row count. (The rest of
	// the decorators' wording is free to change.)
	want := map[string][]string{"request count": {fmt.Sprintf("requests %d ", c.Stats.Requests.Load())}}
	for _, st := range p.Streams() {
		want[st.Name] = []string{st.Name + " ", fmt.Sprintf("rows %d", st.Rows.Load())}
	}
	missing := func() []string {
		drawn := strings.Split(screen.String(), "\n")
		var out []string
	next:
		for what, parts := range want {
			for _, line := range drawn {
				if containsAll(line, parts) {
					continue next
				}
			}
			out = append(out, what)
		}
		sort.Strings(out)
		return out
	}
	waitFor(t, "the bars to show every stream", func() bool { return len(missing()) == 0 })
	log.Info("a log line while the bars are up", "marker", "b4r5")
	waitFor(t, "the log line on the terminal", func() bool { return strings.Contains(screen.String(), "marker=b4r5") })
	stop()
	// Once the bars are gone, the sink writes straight to the terminal.
	log.Info("a log line after the bars", "marker", "4ft3r")
	waitFor(t, "the later log line on the terminal", func() bool { return strings.Contains(screen.String(), "marker=4ft3r") })

	slave.Close()
	master.Close()
	<-readDone
	if m := missing(); len(m) > 0 {
		sc := screen.String()
		t.Errorf("not on the terminal: %q; the screen ends with %q", m, sc[max(0, len(sc)-1000):])
	}
	if testing.Verbose() {
		t.Logf("%d bytes drawn for %d streams", len(screen.String()), len(p.Streams()))
	}
}

// TestLinesLogsProgress checks the plain progress line of Lines mode.
func TestLinesLogsProgress(t *testing.T) {
	p, c := finishedRun(t)
	var logs testkit.SyncBuffer
	stop := Start(&bytes.Buffer{}, Options{Mode: Lines, Every: 50 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))}, p, c)
	waitFor(t, "a progress line", func() bool { return strings.Contains(logs.String(), "msg=progress") })
	stop()
	line, _, _ := strings.Cut(logs.String()[strings.Index(logs.String(), "msg=progress"):], "\n")
	if want := fmt.Sprintf(" requests=%d ", c.Stats.Requests.Load()); !strings.Contains(line, want) {
		t.Errorf("progress line %q lacks %q", line, want)
	}
	for _, st := range p.Streams() {
		// name="... rows=N" (the other counters' wording is free to change)
		re := regexp.MustCompile(" " + regexp.QuoteMeta(st.Name) + `="[^"]*\brows=` + fmt.Sprint(st.Rows.Load()) + `"`)
		if !re.MatchString(line) {
			t.Errorf("progress line %q has no %s with rows=%d", line, st.Name, st.Rows.Load())
		}
	}
	if strings.ContainsAny(line, "\r\x1b") {
		t.Errorf("progress line %q has carriage returns or escapes", line)
	}
}

package pipeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labtrail/labtrail/internal/gitlabfake"
	"github.com/labtrail/labtrail/internal/gitlabfake/faults"
)

// fakeProcessEnv, set to a JSON fakeProcessSpec, makes this test binary
// serve that fake GitLab on a loopback port instead of running tests (see
// TestMain): it prints "listening <url>" and serves until its standard input
// closes.
const fakeProcessEnv = "LABTRAIL_BENCH_FAKE"

// fakeProcessSpec is what a fake server process serves.
type fakeProcessSpec struct {
	Options gitlabfake.Options
	Latency time.Duration
}

// TestMain runs the fake server of startFakeProcess when asked to, and the
// tests otherwise.
func TestMain(m *testing.M) {
	if spec := os.Getenv(fakeProcessEnv); spec != "" {
		if err := serveFake(spec); err != nil {
			fmt.Fprintln(os.Stderr, "fake server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveFake(spec string) error {
	var s fakeProcessSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return fmt.Errorf("reading %s: %w", fakeProcessEnv, err)
	}
	fake := gitlabfake.New(s.Options)
	fake.Faults().Set(faults.Settings{Latency: s.Latency})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening http://%s\n", ln.Addr())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the benchmark closes it
	return srv.Close()
}

// startFakeProcess serves a fake GitLab of opts, answering after latency,
// from a child process, so that its CPU is not the client's: on a machine of
// few cores, a server in the benchmark's own process takes the cores the
// client is measured on. It returns the server's URL and a function that
// reads the CPU time the child has used so far; the child ends when the
// benchmark does.
func startFakeProcess(tb testing.TB, opts gitlabfake.Options, latency time.Duration) (string, func() time.Duration) {
	tb.Helper()
	spec, err := json.Marshal(fakeProcessSpec{Options: opts, Latency: latency})
	if err != nil {
		tb.Fatal(err)
	}
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), fakeProcessEnv+"="+string(spec))
	c.Stderr = os.Stderr
	stdin, err := c.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		_ = c.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		tb.Fatalf("fake server process: %q, %v", line, err)
	}
	pid := c.Process.Pid
	return url, func() time.Duration { return processCPU(pid) }
}

// processCPU is the user and system CPU time process pid has used, read
// from /proc (0 where there is none). /proc counts in USER_HZ ticks, which
// Linux fixes at 100 a second for user space.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are space-separated: state is field 3, utime 14
	// and stime 15.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / 100
}

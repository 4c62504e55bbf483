// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb in a
// temporary directory, a server on a free 127.0.0.1 port, trust
// authentication, stopped and removed when the test ends.
package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Start starts a cluster and returns the URL of its "postgres" database
// for user labtrail. It skips the test when PostgreSQL is not installed.
func Start(t testing.TB) string {
	t.Helper()
	bin := findBin()
	if bin == "" {
		t.Skip("PostgreSQL is not installed (no initdb on PATH, in /usr/lib/postgresql/*/bin or /usr/local/bin); apt-get install postgresql")
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// initdb refuses to run as root: run the server as an unprivileged user.
	var runAs []string
	if os.Getuid() == 0 {
		name := "nobody"
		if _, err := user.Lookup("postgres"); err == nil {
			name = "postgres"
		}
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatalf("pgtest: running as root and no user %s to run PostgreSQL as: %v", name, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		runAs = []string{"runuser", "-u", name, "--"}
	}
	data := filepath.Join(dir, "data")
	run(t, runAs, filepath.Join(bin, "initdb"), "-D", data, "-U", "labtrail", "--auth=trust", "--no-sync", "-E", "UTF8")
	port := freePort(t)
	logFile := filepath.Join(dir, "server.log")
	run(t, runAs, filepath.Join(bin, "pg_ctl"), "-D", data, "-l", logFile, "-w", "-t", "120",
		"-o", fmt.Sprintf("-p %d -h 127.0.0.1 -k %s -c fsync=off -c max_connections=50", port, dir), "start")
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
		if len(runAs) > 0 {
			cmd = exec.Command(runAs[0], append(runAs[1:], cmd.Args...)...)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("pgtest: stopping PostgreSQL: %v\n%s", err, out)
		}
	})
	return fmt.Sprintf("postgres://labtrail@127.0.0.1:%d/postgres?sslmode=disable", port)
}

func run(t testing.TB, runAs []string, name string, args ...string) {
	t.Helper()
	argv := append(append(append([]string{}, runAs...), name), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("pgtest: %s: %v\n%s", filepath.Base(name), err, out.String())
	}
}

// findBin returns the directory holding initdb and pg_ctl, or "".
func findBin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // the newest version first
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	if _, err := os.Stat("/usr/local/bin/initdb"); err == nil {
		return "/usr/local/bin"
	}
	return ""
}

// freePort returns a port nothing listens on at the moment.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labtrail/labtrail/internal/gitlabfake"
)

// `labtrail plan --format json` prints one JSON object with the fields
// scripts rely on, writes nothing, and the table names every scope.
func TestPlanCommand(t *testing.T) {
	e := newE2E(t, gitlabfake.Options{Seed: 17})
	code, out, stderr := e.labtrail("plan", "-c", e.cfg, "--format", "json", "--quiet")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, lastLines(stderr, 20))
	}
	var plan map[string]any
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, field := range []string{"total_requests", "total_rows", "seconds_at_advertised_rate"} {
		if n, ok := plan[field].(float64); !ok || n < 0 || n == 0 && field != "seconds_at_advertised_rate" {
			t.Errorf("%s: %v, want a number (the fake advertises 1,000,000 requests a minute)", field, plan[field])
		}
	}
	if _, ok := plan["seconds_at_requests_per_second"]; !ok || plan["seconds_at_requests_per_second"] != nil {
		t.Errorf("seconds_at_requests_per_second: %v, want null (requests_per_second not set)", plan["seconds_at_requests_per_second"])
	}
	pipelines, _ := plan["pipelines"].([]any)
	if len(pipelines) != 1 {
		t.Fatalf("pipelines: %v", plan["pipelines"])
	}
	if scopes, _ := pipelines[0].(map[string]any)["scopes"].([]any); len(scopes) != 7 {
		t.Errorf("%d scopes, want 4 projects, a group, a user and the current user", len(scopes))
	}
	if _, err := os.Stat(filepath.Join(e.dir, "wh")); !os.IsNotExist(err) {
		t.Errorf("plan wrote the warehouse directory (stat: %v)", err)
	}

	code, out, stderr = e.labtrail("plan", "-c", e.cfg, "--quiet")
	if code != exitOK {
		t.Fatalf("table: exit %d:\n%s", code, lastLines(stderr, 20))
	}
	for _, want := range []string{"freeorg/tool", "iteration_events, weight_events", "Total:", "at the advertised rate"} {
		if !strings.Contains(out, want) {
			t.Errorf("table output lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := e.labtrail("plan", "-c", e.cfg, "--format", "csv"); code != exitUsage {
		t.Errorf("--format csv: exit %d, want %d", code, exitUsage)
	}
}

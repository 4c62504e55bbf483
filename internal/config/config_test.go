package config

import (
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

var withToken = env(map[string]string{"GITLAB_TOKEN": "x"})

func TestParseExampleAndDefaults(t *testing.T) {
	c, err := Parse([]byte(`
gitlab:
  url: https://gitlab.example.com
warehouse:
  duckdb: w/g.duckdb
  parquet: w/parquet
pipelines:
  - name: platform
    projects: [acme/api, acme/platform/db, 42]
    groups: [acme]
    users: [alice, 17]
    current_user: true
    since: 2024-01-01
  - name: small
    projects: [solo/tool]
    streams: [events, label_events]
    since: 2024-02-01
    overlap: 10m
`), withToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.GitLab.TokenEnv != "GITLAB_TOKEN" || c.GitLab.Concurrency != 8 {
		t.Fatalf("defaults not applied: %+v", c.GitLab)
	}
	p := c.Pipelines[0]
	if len(p.Projects) != 3 || p.Projects[2].ID != 42 || p.Projects[1].Path != "acme/platform/db" {
		t.Fatalf("projects = %+v", p.Projects)
	}
	if p.Users[1].ID != 17 || !p.CurrentUser || len(p.Streams) != len(AllStreams) || p.Overlap != time.Hour {
		t.Fatalf("pipeline = %+v", p)
	}
	if !p.Since.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("since = %v", p.Since)
	}
	if q := c.Pipelines[1]; len(q.Streams) != 2 || q.Overlap != 10*time.Minute {
		t.Fatalf("second pipeline = %+v", q)
	}
}

// Every problem is reported at once, each with its YAML path.
func TestParseReportsEveryProblemWithItsPath(t *testing.T) {
	_, err := Parse([]byte(`
gitlab:
  url: ftp://gitlab.example.com
  token_env: MY_TOKEN
  concurrency: 0
  colour: blue
pipelines:
  - name: ok
    projects: [a/b]
    since: 2024-01-01
  - name: ok
    since: 2024-02-30
    streams: [events, tags]
  - name: bad name!
    projects: [/x]
    since: 2024-01-01
`), env(nil))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"gitlab.url: not an http(s) URL",
		"gitlab.token_env: environment variable MY_TOKEN is not set",
		"gitlab.concurrency: must be a whole number from 1 to 64",
		"gitlab.colour: unknown key",
		`pipelines[1].name: "ok" is also the name of pipelines[0]`,
		"pipelines[1].since: not a date",
		`pipelines[1].streams[1]: unknown stream "tags"`,
		"pipelines[1]: names no scope",
		"pipelines[2].name: use letters",
		`pipelines[2].projects[0]: not a valid path: "/x"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestParseRejectsCredentialsInURLAndEmptyFile(t *testing.T) {
	_, err := Parse([]byte("gitlab:\n  url: https://user:pw@gitlab.example.com\npipelines: []\n"), withToken)
	if err == nil || !strings.Contains(err.Error(), "gitlab.url: must not carry credentials") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "pw@") {
		t.Fatalf("error repeats the credentials: %v", err)
	}
	if _, err := Parse([]byte(""), withToken); err == nil {
		t.Fatal("empty file accepted")
	}
}

const minimal = `
gitlab:
  url: https://gitlab.example.com
pipelines:
  - name: p
    projects: [a/b]
    since: 2024-01-01
`

// A token with a control character inside cannot be sent as a header: it
// is a config error naming the variable and the byte, never the token.
func TestTokenWithControlCharactersIsAConfigError(t *testing.T) {
	for name, tok := range map[string]string{
		"LF": "glpat-abc\ndef", "CR": "glpat-abc\rdef", "ESC": "glpat-\x1bdef", "NUL": "glpat-\x00def", "C1": "glpat-\u0085def",
	} {
		_, err := Parse([]byte(minimal), env(map[string]string{"GITLAB_TOKEN": tok}))
		if err == nil || !strings.Contains(err.Error(), "gitlab.token_env: environment variable GITLAB_TOKEN holds a control character") {
			t.Errorf("%s: err = %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), "abc") || strings.Contains(err.Error(), "def") {
			t.Errorf("%s: the error quotes the token: %v", name, err)
		}
		if name == "LF" && !strings.Contains(err.Error(), "byte 10 of the token, LF") {
			t.Errorf("LF: err = %v", err)
		}
	}
	// Surrounding whitespace (a secret file's newline) is trimmed, not refused.
	c, err := Parse([]byte(minimal), env(map[string]string{"GITLAB_TOKEN": "  glpat-abcdef\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.GitLab.Token(env(map[string]string{"GITLAB_TOKEN": "  glpat-abcdef\n"})); got != "glpat-abcdef" {
		t.Fatalf("Token() = %q", got)
	}
}

func TestServerBoundsDefaultsAndValidation(t *testing.T) {
	c, err := Parse([]byte(minimal), withToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.GitLab.MaxResponseBytes != 64<<20 || c.GitLab.MaxPages != 100_000 || c.GitLab.MaxWait != 15*time.Minute {
		t.Fatalf("defaults: %+v", c.GitLab)
	}
	doc := strings.Replace(minimal, "  url: https://gitlab.example.com\n",
		"  url: https://gitlab.example.com\n  max_response_bytes: 10\n  max_pages: 0\n  max_wait: forever\n", 1)
	_, err = Parse([]byte(doc), withToken)
	for _, want := range []string{
		`gitlab.max_response_bytes: must be a whole number from 1048576 to 4294967296, got "10"`,
		`gitlab.max_pages: must be a whole number from 1 to 100000000, got "0"`,
		`gitlab.max_wait: must be a positive duration like 30s or 1h, got "forever"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	doc = strings.Replace(minimal, "  url: https://gitlab.example.com\n",
		"  url: https://gitlab.example.com\n  max_response_bytes: 16777216\n  max_pages: 500\n  max_wait: 2m\n", 1)
	c, err = Parse([]byte(doc), withToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.GitLab.MaxResponseBytes != 16<<20 || c.GitLab.MaxPages != 500 || c.GitLab.MaxWait != 2*time.Minute {
		t.Fatalf("parsed: %+v", c.GitLab)
	}
}

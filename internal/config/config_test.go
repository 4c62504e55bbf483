package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// Decoding and validation are tested by the files in testdata (fixtures_test.go);
// these tests cover what a fixture cannot.

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// Surrounding whitespace (a secret file's newline) is trimmed from the token.
func TestTokenIsTrimmed(t *testing.T) {
	g := GitLab{TokenEnv: "GITLAB_TOKEN"}
	if got := g.Token(env(map[string]string{"GITLAB_TOKEN": "  glpat-abcdef\n"})); got != "glpat-abcdef" {
		t.Fatalf("Token() = %q", got)
	}
	if got := g.Token(env(nil)); got != "" {
		t.Fatalf("Token() of an unset variable = %q", got)
	}
}

// Relative warehouse paths are relative to the config file, also when the
// file is in the working directory.
func TestLoadInWorkingDirectoryKeepsRelativePaths(t *testing.T) {
	t.Chdir("testdata")
	c, err := Load("minimal.good.yml", env(tokenEnv))
	if err != nil {
		t.Fatal(err)
	}
	if c.Warehouse.DuckDB != "warehouse/gitlab.duckdb" || c.Warehouse.Parquet != "warehouse/parquet" {
		t.Fatalf("warehouse = %+v", c.Warehouse)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yml", env(tokenEnv))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: open testdata/does-not-exist.yml: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestRefString(t *testing.T) {
	for ref, want := range map[Ref]string{{ID: 42}: "42", {Path: "acme/api"}: "acme/api", {Path: "42"}: "42"} {
		if got := ref.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", ref, got, want)
		}
	}
}

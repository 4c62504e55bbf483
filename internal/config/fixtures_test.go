package config

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/labtrail/labtrail/schemas"
)

// fixture is one Load of a file in testdata: *.good.yml files load, *.bad.yml
// files fail with exactly the lines in errs (in any order: every problem is
// reported at once). A file may appear more than once, with different env.
type fixture struct {
	file string
	// variant names a second or later entry for the same file.
	variant string
	// env is the environment Load sees; nil means tokenEnv.
	env map[string]string
	// want, for a good fixture, is the decoded config; nil only checks that
	// the file loads.
	want *Config
	// errs, for a bad fixture, is every line of the error.
	errs []string
}

// tokenEnv is the environment of a fixture that names none: both token
// variables the bad fixtures use are set.
var tokenEnv = map[string]string{"GITLAB_TOKEN": "test-token", "MY_TOKEN": "test-token"}

// Shared parts of the expected messages.
const (
	noScope       = "names no scope: give at least one of projects, groups, users, current_user: true or instance_audit_events: true"
	sinceRequired = ".since: required (YYYY-MM-DD): where a first run starts"
	positiveDur   = "must be a positive duration like 30s or 1h, got "
	gitlabKeys    = "url, token_env, concurrency, requests_per_second, max_attempts, timeout, max_response_bytes, max_pages, max_wait"
)

// tokenControl runs token-control.bad.yml with control character c (called
// name in the message) as byte 7 of the token.
func tokenControl(variant string, c rune, name string) fixture {
	return fixture{file: "token-control.bad.yml", variant: variant, env: map[string]string{"GITLAB_TOKEN": "abcdef" + string(c) + "ghi"},
		errs: []string{"gitlab.token_env: environment variable GITLAB_TOKEN holds a control character (byte 7 of the token, " +
			name + "); remove it (a pasted CR or LF?)"}}
}

func unknownKind(path, name string) string {
	return path + ": unknown event kind " + strconv.Quote(name) + " (known: " + strings.Join(schemas.EventKindUsages(), ", ") + ")"
}

func ev(s string) schemas.EventRef { return schemas.ParseEventRef(s) }

func unknownStream(path, name string) string {
	return path + ": unknown stream " + strconv.Quote(name) + " (known: " + strings.Join(schemas.StreamNames(), ", ") + ")"
}

// defaults is the config minimal.good.yml decodes to: the README's defaults.
func defaults() *Config {
	return &Config{
		GitLab: GitLab{
			URL: "https://gitlab.example.com", TokenEnv: "GITLAB_TOKEN", Concurrency: 8, MaxAttempts: 8,
			Timeout: 60 * time.Second, MaxResponseBytes: 64 << 20, MaxPages: 100_000, MaxWait: 15 * time.Minute,
		},
		Warehouse: Warehouse{DuckDB: "testdata/warehouse/gitlab.duckdb", Parquet: "testdata/warehouse/parquet", InternalNotes: InternalNotesRedact,
			WorkflowLabelPrefix: "workflow::"},
		Pipelines: []Pipeline{{
			Name: "p", Projects: []Ref{{Path: "acme/api"}}, Streams: schemas.DefaultStreamNames(),
			Since: day(2024, 1, 1), Overlap: time.Hour,
		}},
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// with returns defaults() changed by fn.
func with(fn func(c *Config)) *Config {
	c := defaults()
	fn(c)
	return c
}

var fixtures = []fixture{
	// Good: every documented key and the notable forms.
	{file: "minimal.good.yml", want: defaults()},
	{file: "full.good.yml", env: map[string]string{"LABTRAIL_GITLAB_TOKEN": "test-token"}, want: &Config{
		GitLab: GitLab{
			URL: "https://gitlab.example.com", TokenEnv: "LABTRAIL_GITLAB_TOKEN", Concurrency: 4, RequestsPerSecond: 12.5,
			MaxAttempts: 3, Timeout: 90 * time.Second, MaxResponseBytes: 16 << 20, MaxPages: 5000, MaxWait: 2 * time.Minute,
		},
		Warehouse: Warehouse{DuckDB: "testdata/data/gitlab.duckdb", Parquet: "s3://labtrail-warehouse/gitlab/parquet",
			ObjectStore:   ObjectStore{Endpoint: "https://minio.example.com:9000", Region: "eu-central-1", PathStyle: true},
			InternalNotes: InternalNotesKeep, WorkflowLabelPrefix: "stage/",
			Iceberg: &Iceberg{Catalog: IcebergSQL, URI: "postgres://labtrail@127.0.0.1:5432/lake",
				Warehouse: "s3://bucket/lake", Namespace: "gitlab", SnapshotRetention: 72 * time.Hour}},
		Pipelines: []Pipeline{{
			Name:        "platform",
			Projects:    []Ref{{Path: "acme/api"}, {Path: "acme/platform/db"}, {ID: 42}},
			Groups:      []Ref{{Path: "acme"}, {ID: 7}},
			Users:       []Ref{{Path: "alice"}, {ID: 17}},
			CurrentUser: true,
			Streams:     []string{"state_events", "events", "label_events", "audit_events"},
			AuditEvents: true, InstanceAuditEvents: true,
			Since:   day(2024, 1, 1),
			Overlap: 10 * time.Minute,
			Stages: []schemas.Stage{{Name: "review", Start: ev("label_added:stage/review"), End: ev("label_removed:stage/review"),
				Repeats: schemas.RepeatsSum}},
		}, {
			Name: "solo.tool_2-b", Projects: []Ref{{Path: "solo/tool"}}, Streams: schemas.DefaultStreamNames(),
			Since: day(2024, 2, 29), Overlap: time.Hour,
		}},
	}},
	{file: "refs.good.yml", want: with(func(c *Config) {
		c.Pipelines[0].Name = "refs"
		c.Pipelines[0].Projects = []Ref{{ID: 42}, {Path: "42"}, {Path: "acme/platform/db"}, {Path: "acme/api"}}
		c.Pipelines[0].Groups = []Ref{{Path: "acme"}, {ID: 7}}
		c.Pipelines[0].Users = []Ref{{Path: "alice"}, {ID: 17}}
	})},
	{file: "current-user.good.yml", want: with(func(c *Config) {
		c.Pipelines[0].Name, c.Pipelines[0].Projects, c.Pipelines[0].CurrentUser = "me", nil, true
	})},
	{file: "streams.good.yml", want: with(func(c *Config) {
		all := c.Pipelines[0]
		all.Name = "all"
		c.Pipelines[0].Name = "labels"
		c.Pipelines[0].Streams = []string{"weight_events", "label_events"}
		c.Pipelines = append(c.Pipelines, all)
	})},
	{file: "audit.good.yml", want: &Config{
		GitLab:    defaults().GitLab,
		Warehouse: defaults().Warehouse,
		Pipelines: []Pipeline{{
			Name: "on", Projects: []Ref{{Path: "acme/api"}}, Streams: append(schemas.DefaultStreamNames(), "audit_events"),
			AuditEvents: true, Since: day(2024, 1, 1), Overlap: time.Hour,
		}, {
			Name: "listed", Groups: []Ref{{Path: "acme"}}, Streams: []string{"audit_events", "events"},
			AuditEvents: true, Since: day(2024, 1, 1), Overlap: time.Hour,
		}, {
			Name: "instance", Streams: []string{"audit_events"}, AuditEvents: true, InstanceAuditEvents: true,
			Since: day(2024, 1, 1), Overlap: time.Hour,
		}, {
			Name: "off", Projects: []Ref{{Path: "acme/api"}}, Streams: schemas.DefaultStreamNames(),
			Since: day(2024, 1, 1), Overlap: time.Hour,
		}},
	}},
	{file: "http.good.yml", want: with(func(c *Config) {
		c.GitLab.URL = "http://127.0.0.1:8929/gitlab"
		c.Pipelines[0].Name, c.Pipelines[0].Projects, c.Pipelines[0].Groups = "demo", nil, []Ref{{Path: "acme"}}
	})},
	{file: "internal-notes.good.yml", want: defaults()},
	{file: "iceberg.good.yml", want: with(func(c *Config) {
		c.Warehouse.Iceberg = &Iceberg{Catalog: IcebergSQL, URI: "testdata/lake/catalog.db", Warehouse: "testdata/lake/tables",
			Namespace: "labtrail", SnapshotRetention: 168 * time.Hour}
	})},
	{file: "iceberg-rest.good.yml", want: with(func(c *Config) {
		c.Warehouse.Iceberg = &Iceberg{Catalog: IcebergREST, URI: "https://polaris.example.com/api/catalog", Warehouse: "lake",
			Namespace: "labtrail", SnapshotRetention: 168 * time.Hour}
	})},
	{file: "stages.good.yml", want: with(func(c *Config) {
		lead := schemas.Stage{Name: "lead_time", Start: ev("issue_created"), End: ev("issue_closed"), Repeats: schemas.RepeatsSeparate}
		c.Pipelines[0].Name = "a"
		c.Pipelines[0].Stages = []schemas.Stage{
			{Name: "review", Start: ev("label_added:workflow::review"), End: ev("label_removed:workflow::review"), Repeats: schemas.RepeatsSum},
			lead,
			{Name: "first_response", Start: ev("issue_created"), End: ev("first_assigned"), Repeats: schemas.RepeatsSeparate},
		}
		b := c.Pipelines[0]
		b.Name, b.Projects = "b", []Ref{{Path: "acme/web"}}
		b.Stages = []schemas.Stage{{Name: "time_to_merge", Start: ev("mr_created"), End: ev("mr_merged"), Repeats: schemas.RepeatsSeparate}, lead}
		c.Pipelines = append(c.Pipelines, b)
	})},
	{file: "token-env.good.yml", env: map[string]string{"_MY_TOKEN_2": " \ttest-token\r\n"}, want: with(func(c *Config) {
		c.GitLab.TokenEnv = "_MY_TOKEN_2"
	})},
	{file: "bounds-low.good.yml", want: with(func(c *Config) {
		g := &c.GitLab
		g.Concurrency, g.RequestsPerSecond, g.MaxAttempts, g.Timeout, g.MaxResponseBytes, g.MaxPages, g.MaxWait = 1, 0.001, 1, 1, 1<<20, 1, 1
		c.Pipelines[0].Overlap = 1
	})},
	{file: "bounds-high.good.yml", want: with(func(c *Config) {
		g := &c.GitLab
		g.Concurrency, g.MaxAttempts, g.MaxResponseBytes, g.MaxPages = 64, 100, 1<<32, 100_000_000
	})},

	{file: "object-store.good.yml", want: with(func(c *Config) {
		c.Warehouse.Parquet = "s3://labtrail/gitlab/parquet"
		c.Warehouse.ObjectStore = ObjectStore{Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", PathStyle: true}
	})},
	{file: "object-urls.good.yml", want: with(func(c *Config) { c.Warehouse.Parquet = "gs://acme-warehouse/labtrail" })},

	// Bad: the Parquet tree on object storage.
	{file: "parquet-url.bad.yml", errs: []string{
		`warehouse.parquet: unknown scheme "ftp" (want s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix or a local path)`,
	}},
	{file: "parquet-bad-url.bad.yml", errs: []string{
		`warehouse.parquet: not a valid URL: "s3://labtrail/%zz"`,
	}},
	{file: "parquet-no-bucket.bad.yml", errs: []string{
		`warehouse.parquet: names no bucket: want s3://bucket/prefix, got "s3:///parquet"`,
	}},
	{file: "parquet-credentials.bad.yml", errs: []string{
		"warehouse.parquet: must not carry credentials; they come from the provider's standard chain (environment, shared config, workload identity)",
	}},
	{file: "parquet-query.bad.yml", errs: []string{
		"warehouse.parquet: must not have a query or fragment (s3://labtrail/parquet?…); an S3-compatible server is set in warehouse.object_store",
	}},
	{file: "parquet-bucket-name.bad.yml", errs: []string{
		`warehouse.parquet: "Labtrail_Data" is not a valid S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-')`,
	}},
	{file: "object-store.bad.yml", errs: []string{
		`warehouse.object_store.endpoint: not an http(s) URL: "127.0.0.1:7070"`,
		`warehouse.object_store.region: must be a region name like us-east-1, got "US East"`,
		`warehouse.object_store.path_style: must be true or false, got "yes"`,
		"warehouse.object_store.access_key: unknown key (line 10; allowed: endpoint, region, path_style)",
	}},
	{file: "object-store-endpoint.bad.yml", errs: []string{
		"warehouse.object_store.endpoint: must not carry credentials; they come from the AWS credential chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared config, workload identity)",
	}},
	{file: "object-store-endpoint-query.bad.yml", errs: []string{
		"warehouse.object_store.endpoint: must not have a query or fragment (https://s3.example.com/?…)",
	}},
	{file: "object-store-not-s3.bad.yml", errs: []string{
		`warehouse.object_store: applies only to an s3:// warehouse.parquet (an S3-compatible server), not "gs://acme-warehouse/labtrail"`,
	}},

	// Bad: the file as a whole.
	{file: "empty.bad.yml", errs: []string{"config: file is empty"}},
	{file: "syntax.bad.yml", errs: []string{"config: not valid YAML: yaml: line 3: found character that cannot start any token"}},
	// Bad: structure. A section of the wrong kind leaves its required keys unset.
	{file: "root-not-mapping.bad.yml", errs: []string{
		"(top level): must be a mapping (line 2)",
		"gitlab.url: required",
		"pipelines: at least one pipeline is required",
	}},
	{file: "gitlab-not-mapping.bad.yml", errs: []string{"gitlab: must be a mapping (line 2)", "gitlab.url: required"}},
	{file: "warehouse-not-mapping.bad.yml", errs: []string{"warehouse: must be a mapping (line 4)"}},
	{file: "pipeline-not-mapping.bad.yml", errs: []string{
		"pipelines[0]: must be a mapping (line 5)",
		"pipelines[0].name: required",
		"pipelines[0]: " + noScope,
		"pipelines[0]" + sinceRequired,
	}},
	{file: "pipelines-not-list.bad.yml", errs: []string{
		"pipelines: must be a list of pipelines",
		"pipelines: at least one pipeline is required",
	}},
	{file: "unknown-key-root.bad.yml", errs: []string{"version: unknown key (line 3; allowed: gitlab, warehouse, pipelines)"}},
	{file: "unknown-key-gitlab.bad.yml", errs: []string{"gitlab.requests_per_sec: unknown key (line 3; allowed: " + gitlabKeys + ")"}},
	{file: "unknown-key-warehouse.bad.yml", errs: []string{"warehouse.duckdb_path: unknown key (line 4; allowed: duckdb, parquet, object_store, internal_notes, workflow_label_prefix, iceberg)"}},
	{file: "unknown-key-pipeline.bad.yml", errs: []string{
		"pipelines[0].until: unknown key (line 7; allowed: name, projects, groups, users, current_user, streams, audit_events, instance_audit_events, since, overlap, stages)",
	}},
	{file: "given-twice.bad.yml", errs: []string{"gitlab.url: given twice (line 3)"}},
	{file: "not-single-value.bad.yml", errs: []string{"gitlab.url: must be a single value", "gitlab.url: required"}},
	{file: "not-string.bad.yml", errs: []string{`pipelines[0].name: must be a string, got "2024"`}},

	// Bad: gitlab.url.
	{file: "url-missing.bad.yml", errs: []string{"gitlab.url: required"}},
	{file: "url-not-http.bad.yml", errs: []string{`gitlab.url: not an http(s) URL: "ftp://gitlab.example.com"`}},
	{file: "url-no-scheme.bad.yml", errs: []string{`gitlab.url: not an http(s) URL: "gitlab.example.com"`}},
	{file: "url-no-host.bad.yml", errs: []string{`gitlab.url: not an http(s) URL: "https:/gitlab.example.com"`}},
	{file: "url-credentials.bad.yml", errs: []string{ // without the password
		"gitlab.url: must not carry credentials; put the token in the variable named by gitlab.token_env",
	}},
	{file: "url-query.bad.yml", errs: []string{`gitlab.url: must not have a query or fragment (https://gitlab.example.com/?…); put the token in the variable named by gitlab.token_env`}},
	{file: "url-fragment.bad.yml", errs: []string{`gitlab.url: must not have a query or fragment (https://gitlab.example.com/?…); put the token in the variable named by gitlab.token_env`}},

	// Bad: the token. Messages name the variable and the byte, never the token.
	{file: "token-env-name.bad.yml", errs: []string{`gitlab.token_env: not an environment variable name: "$GITLAB_TOKEN"`}},
	{file: "token-unset.bad.yml", env: map[string]string{}, errs: []string{
		"gitlab.token_env: environment variable MY_TOKEN is not set (it must hold the GitLab token)",
	}},
	{file: "token-unset.bad.yml", variant: "blank", env: map[string]string{"MY_TOKEN": " \n"}, errs: []string{
		"gitlab.token_env: environment variable MY_TOKEN is not set (it must hold the GitLab token)",
	}},
	tokenControl("LF", '\n', "LF"),
	tokenControl("CR", '\r', "CR"),
	tokenControl("TAB", '\t', "TAB"),
	tokenControl("ESC", 0x1b, "U+001B"),
	tokenControl("NUL", 0, "U+0000"),
	tokenControl("DEL", 0x7f, "U+007F"),
	tokenControl("C1", 0x85, "U+0085"),

	// Bad: gitlab's numbers and durations, one key at a time, then each
	// bound crossed by one.
	{file: "concurrency.bad.yml", errs: []string{`gitlab.concurrency: must be a whole number from 1 to 64, got "0"`}},
	{file: "max-attempts.bad.yml", errs: []string{`gitlab.max_attempts: must be a whole number from 1 to 100, got "101"`}},
	{file: "requests-per-second.bad.yml", errs: []string{`gitlab.requests_per_second: must be a positive number, got "0"`}},
	{file: "requests-per-second-nan.bad.yml", errs: []string{`gitlab.requests_per_second: must be a positive number, got "NaN"`}},
	{file: "timeout.bad.yml", errs: []string{`gitlab.timeout: ` + positiveDur + `"60"`}},
	{file: "max-response-bytes.bad.yml", errs: []string{
		`gitlab.max_response_bytes: must be a whole number from 1048576 to 4294967296, got "64MiB"`,
	}},
	{file: "max-pages.bad.yml", errs: []string{`gitlab.max_pages: must be a whole number from 1 to 100000000, got "0"`}},
	{file: "max-wait.bad.yml", errs: []string{`gitlab.max_wait: ` + positiveDur + `"0s"`}},
	{file: "bounds-low.bad.yml", errs: []string{
		`gitlab.concurrency: must be a whole number from 1 to 64, got "0"`,
		`gitlab.requests_per_second: must be a positive number, got "-1"`,
		`gitlab.max_attempts: must be a whole number from 1 to 100, got "0"`,
		`gitlab.timeout: ` + positiveDur + `"0s"`,
		`gitlab.max_response_bytes: must be a whole number from 1048576 to 4294967296, got "1048575"`,
		`gitlab.max_pages: must be a whole number from 1 to 100000000, got "0"`,
		`gitlab.max_wait: ` + positiveDur + `"-1s"`,
		`pipelines[0].overlap: ` + positiveDur + `"0s"`,
	}},
	{file: "bounds-high.bad.yml", errs: []string{
		`gitlab.concurrency: must be a whole number from 1 to 64, got "65"`,
		`gitlab.max_attempts: must be a whole number from 1 to 100, got "101"`,
		`gitlab.max_response_bytes: must be a whole number from 1048576 to 4294967296, got "4294967297"`,
		`gitlab.max_pages: must be a whole number from 1 to 100000000, got "100000001"`,
	}},

	// Bad: pipelines.
	{file: "no-pipelines.bad.yml", errs: []string{"pipelines: at least one pipeline is required"}},
	{file: "name-missing.bad.yml", errs: []string{"pipelines[0].name: required"}},
	{file: "name-charset.bad.yml", errs: []string{
		`pipelines[0].name: use letters, digits, '.', '_' and '-' only, got "acme platform"`,
		`pipelines[1].name: use letters, digits, '.', '_' and '-' only, got ".hidden"`,
	}},
	{file: "name-duplicate.bad.yml", errs: []string{`pipelines[2].name: "p" is also the name of pipelines[0]`}},
	{file: "no-scope.bad.yml", errs: []string{"pipelines[0]: " + noScope}},
	{file: "refs-not-list.bad.yml", errs: []string{"pipelines[0].projects: must be a list", "pipelines[0]: " + noScope}},
	{file: "ref-empty.bad.yml", errs: []string{"pipelines[0].projects[1]: empty", "pipelines[0].projects[2]: empty"}},
	{file: "ref-not-single-value.bad.yml", errs: []string{
		"pipelines[0].projects[1]: must be a single value",
		"pipelines[0].projects[1]: empty",
	}},
	{file: "ref-id.bad.yml", errs: []string{
		`pipelines[0].projects[0]: not a valid id: "0"`,
		`pipelines[0].projects[1]: not a valid id: "0x2A"`,
		`pipelines[0].users[0]: not a valid id: "-17"`,
		"pipelines[0]: " + noScope,
	}},
	{file: "ref-path.bad.yml", errs: []string{
		`pipelines[0].projects[0]: not a valid path: "/acme/api"`,
		`pipelines[0].projects[1]: not a valid path: "acme/api/"`,
		`pipelines[0].projects[2]: not a valid path: "acme//api"`,
		`pipelines[0].projects[3]: not a valid path: "acme/my api"`,
		`pipelines[0].projects[4]: not a valid path: "acme/api?x"`,
		`pipelines[0].projects[5]: not a valid path: "acme/api#x"`,
		`pipelines[0].projects[6]: not a valid path: "acme/\tapi"`,
		"pipelines[0]: " + noScope,
	}},
	{file: "current-user.bad.yml", errs: []string{`pipelines[0].current_user: must be true or false, got "yes"`}},
	{file: "audit.bad.yml", errs: []string{
		"pipelines[0].audit_events: is false, but streams lists audit_events; remove one of them",
		"pipelines[1].instance_audit_events: needs audit events on: set audit_events: true or list audit_events in streams",
		`pipelines[2].instance_audit_events: must be true or false, got "yes"`,
		`pipelines[2].audit_events: must be true or false, got "1"`,
	}},
	{file: "streams-not-list.bad.yml", errs: []string{"pipelines[0].streams: must be a list of stream names"}},
	{file: "stream-unknown.bad.yml", errs: []string{
		unknownStream("pipelines[0].streams[1]", "notes"),
		unknownStream("pipelines[0].streams[2]", ""),
	}},
	{file: "stream-twice.bad.yml", errs: []string{`pipelines[0].streams[2]: stream "events" listed twice`}},
	{file: "since-missing.bad.yml", errs: []string{"pipelines[0]" + sinceRequired}},
	{file: "since-not-date.bad.yml", errs: []string{
		`pipelines[0].since: not a date (want YYYY-MM-DD), got "2024-02-30"`,
		"pipelines[0]" + sinceRequired, // the date was not read
	}},
	{file: "since-future.bad.yml", errs: []string{"pipelines[0].since: 2999-01-01 is in the future"}},
	{file: "overlap.bad.yml", errs: []string{`pipelines[0].overlap: ` + positiveDur + `"an hour"`}},
	{file: "internal-notes.bad.yml", errs: []string{`warehouse.internal_notes: must be keep or redact, got "hide"`}},
	{file: "iceberg.bad.yml", errs: []string{
		`warehouse.iceberg.catalog: must be sql or rest, got "hive"`,
		`warehouse.iceberg.uri: a sql catalog is a postgres:// URL or a SQLite file path, got "mysql://lake.example.com/lake"`,
		`warehouse.iceberg.warehouse: must be a directory, file:// or s3:// URL, got "gs://bucket/lake"`,
		`warehouse.iceberg.namespace: use letters, digits and '_' only, got "lab-trail"`,
		`warehouse.iceberg.snapshot_retention: ` + positiveDur + `"0s"`,
	}},
	{file: "iceberg-rest.bad.yml", errs: []string{
		`warehouse.iceberg.uri: a rest catalog needs an http(s) URL, got "ftp://catalog.example.com"`,
		`warehouse.iceberg.warehouse: an s3:// URL needs a bucket`,
	}},
	// Neither message may show the password.
	{file: "iceberg-rest-credentials.bad.yml", errs: []string{"warehouse.iceberg.uri: must not carry credentials"}},
	{file: "iceberg-postgres.bad.yml", errs: []string{
		"warehouse.iceberg.uri: a postgres URL needs a host and a database (postgres://user@host:5432/db)",
		"warehouse.iceberg.warehouse: required with a sql catalog: a directory or an s3:// URL",
	}},
	{file: "iceberg-uri.bad.yml", errs: []string{
		"warehouse.iceberg.uri: required",
		"warehouse.iceberg.warehouse: required with a sql catalog: a directory or an s3:// URL",
	}},
	{file: "workflow-prefix.bad.yml", errs: []string{"warehouse.workflow_label_prefix: must not be empty (every label would be a workflow stage)"}},

	// Bad: value-stream stages.
	{file: "stages-not-list.bad.yml", errs: []string{"pipelines[0].stages: must be a list of stages"}},
	{file: "stage-kind.bad.yml", errs: []string{
		unknownKind("pipelines[0].stages[1].start", "foo"),
		"pipelines[0].stages[1].end: event kind label_added needs an argument: label_added:<label name>",
		`pipelines[0].stages[2].start: event kind issue_created takes no argument, got "issue_created:now"`,
		"pipelines[0].stages[2].end: must be a single value",
	}},
	{file: "stage-missing.bad.yml", errs: []string{
		"pipelines[0].stages[0].name: required",
		"pipelines[0].stages[0].end: required: an event kind (issue_created, ...)",
		"pipelines[0].stages[1].start: required: an event kind (issue_created, ...)",
	}},
	{file: "stage-duplicate.bad.yml", errs: []string{
		`pipelines[0].stages[1].name: stage "lead_time" is also defined at pipelines[0].stages[0]`,
		`pipelines[1].stages[0]: stage "lead_time" differs from its definition at pipelines[0].stages[0]; stages are warehouse-wide, so a name has one definition`,
	}},
	{file: "stage-never-pairs.bad.yml", errs: []string{
		"pipelines[0].stages[0]: start issue_created (Issue) and end mr_merged (MergeRequest) never apply to the same resource type",
	}},
	{file: "stage-repeats.bad.yml", errs: []string{`pipelines[0].stages[0].repeats: must be separate or sum, got "max"`}},

	// Bad: many problems at once.
	{file: "many-problems.bad.yml", env: map[string]string{}, errs: []string{
		`gitlab.url: not an http(s) URL: "ftp://gitlab.example.com"`,
		"gitlab.token_env: environment variable MY_TOKEN is not set (it must hold the GitLab token)",
		`gitlab.concurrency: must be a whole number from 1 to 64, got "0"`,
		"gitlab.colour: unknown key (line 6; allowed: " + gitlabKeys + ")",
		`pipelines[1].name: "ok" is also the name of pipelines[0]`,
		`pipelines[1].since: not a date (want YYYY-MM-DD), got "2024-02-30"`,
		"pipelines[1]" + sinceRequired,
		unknownStream("pipelines[1].streams[1]", "tags"),
		"pipelines[1]: " + noScope,
		`pipelines[2].name: use letters, digits, '.', '_' and '-' only, got "bad name!"`,
		`pipelines[2].projects[0]: not a valid path: "/x"`,
		"pipelines[2]: " + noScope,
	}},
}

func (f fixture) name() string {
	if f.variant != "" {
		return f.file + "/" + f.variant
	}
	return f.file
}

func TestFixtures(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name(), func(t *testing.T) {
			vars := f.env
			if vars == nil {
				vars = tokenEnv
			}
			c, err := Load(filepath.Join("testdata", f.file), env(vars))
			if strings.HasSuffix(f.file, ".good.yml") {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if f.want != nil && !reflect.DeepEqual(c, f.want) {
					t.Errorf("decoded\n%+v\nwant\n%+v", *c, *f.want)
				}
				return
			}
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			got := strings.Split(err.Error(), "\n")
			for _, line := range got {
				if !slices.Contains(f.errs, line) {
					t.Errorf("unexpected line: %s", line)
				}
			}
			for _, line := range f.errs {
				if !slices.Contains(got, line) {
					t.Errorf("missing line: %s", line)
				}
			}
			if len(got) != len(f.errs) {
				t.Errorf("%d lines, want %d:\n%v", len(got), len(f.errs), err)
			}
			for _, tok := range vars {
				for _, part := range strings.FieldsFunc(tok, isControl) {
					if part = strings.TrimSpace(part); len(part) > 2 && strings.Contains(err.Error(), part) {
						t.Errorf("the error quotes the token %q", tok)
					}
				}
			}
		})
	}
}

// Every file in testdata is in the table (a fixture without expectations
// fails), named good or bad, and the table agrees with the name.
func TestFixtureTableIsComplete(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range fixtures {
		listed[f.file] = true
		good := strings.HasSuffix(f.file, ".good.yml")
		if good != (len(f.errs) == 0) {
			t.Errorf("%s: a .good.yml file expects no error lines, a .bad.yml file at least one", f.name())
		}
	}
	for _, path := range files {
		name := filepath.Base(path)
		switch {
		case !strings.HasSuffix(name, ".good.yml") && !strings.HasSuffix(name, ".bad.yml"):
			t.Errorf("testdata/%s: name fixtures *.good.yml or *.bad.yml", name)
		case !listed[name]:
			t.Errorf("testdata/%s is not in the fixtures table", name)
		}
	}
}

// Every error the package can return has a fixture: each format string given
// to errf, errors.New or fmt.Errorf in the package's source matches at least
// one expected line of the table (or, for reading the file, of Load on a
// missing file). A new validation rule without a bad fixture fails here.
func TestEveryErrorSiteHasAFixture(t *testing.T) {
	var lines []string
	for _, f := range fixtures {
		lines = append(lines, f.errs...)
	}
	_, err := Load("testdata/does-not-exist.yml", env(tokenEnv))
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	lines = append(lines, err.Error())

	sites := errorSites(t)
	if len(sites) < 20 {
		t.Fatalf("found only %d error sites; is the source scan broken?", len(sites))
	}
	for _, s := range sites {
		if !slices.ContainsFunc(lines, s.re.MatchString) {
			t.Errorf("%s: no fixture expects %q", s.pos, s.format)
		}
	}
}

type errorSite struct {
	pos    string
	format string
	re     *regexp.Regexp
}

var verb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// errorSites finds, in the package's non-test source, every d.errf(path,
// format, ...) and every errors.New or fmt.Errorf whose format starts with
// "config:" (fmt.Errorf in errf itself only prefixes the path).
func errorSites(t *testing.T) []errorSite {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var sites []errorSite
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			arg, prefix := -1, ""
			switch x, _ := sel.X.(*ast.Ident); {
			case sel.Sel.Name == "errf":
				arg, prefix = 1, `(^|: )`
			case x != nil && (x.Name == "errors" && sel.Sel.Name == "New" || x.Name == "fmt" && sel.Sel.Name == "Errorf"):
				arg, prefix = 0, `^`
			default:
				return true
			}
			if len(call.Args) <= arg {
				return true
			}
			lit, ok := call.Args[arg].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			format, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			if prefix == `^` && !strings.HasPrefix(format, "config:") {
				return true
			}
			parts := verb.Split(format, -1)
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			sites = append(sites, errorSite{
				pos:    fset.Position(lit.Pos()).String(),
				format: format,
				re:     regexp.MustCompile(prefix + strings.Join(parts, `.*`) + `$`),
			})
			return true
		})
	}
	return sites
}

// full.good.yml uses every key of the README's config reference, and only
// those.
func TestFullFixtureUsesEveryDocumentedKey(t *testing.T) {
	documented := readmeKeys(t)
	data, err := os.ReadFile("testdata/full.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	yamlKeys(root.Content[0], "", used)
	for k := range documented {
		if !used[k] {
			t.Errorf("testdata/full.good.yml does not set %s, documented in README.md", k)
		}
	}
	for k := range used {
		if !documented[k] {
			t.Errorf("testdata/full.good.yml sets %s, which README.md's config reference does not document", k)
		}
	}
}

// readmeKeys returns the keys of the table under "## Config reference",
// written as pipelines[].name.
func readmeKeys(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([^`]+)` \\|")
	keys := map[string]bool{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Config reference"
			continue
		}
		if m := row.FindStringSubmatch(line); in && m != nil {
			keys[m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal(`README.md: no key rows under "## Config reference"`)
	}
	return keys
}

// yamlKeys adds to keys the path of every key under n that holds a value
// rather than a section; list items add "[]" to the path.
func yamlKeys(n *yaml.Node, path string, keys map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p, v := n.Content[i].Value, n.Content[i+1]
			if path != "" {
				p = path + "." + p
			}
			if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode && len(v.Content) > 0 && v.Content[0].Kind == yaml.MappingNode {
				yamlKeys(v, p, keys) // a section: its keys are the documented ones
			} else {
				keys[p] = true
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			yamlKeys(item, path+"[]", keys)
		}
	}
}

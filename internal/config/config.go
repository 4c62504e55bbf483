// Package config reads pipelines.yaml. Decoding is strict (unknown keys are
// errors), every error names its YAML path (pipelines[1].since: not a date),
// all errors are reported at once, and defaults are filled in one place
// (applyDefaults), so that `labtrail validate` tells a user everything that
// is wrong with a file in one go.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// Config is a decoded and validated pipelines.yaml.
type Config struct {
	GitLab    GitLab
	Warehouse Warehouse
	Pipelines []Pipeline
}

// GitLab is the `gitlab:` section.
type GitLab struct {
	URL               string        // instance URL without /api/v4
	TokenEnv          string        // name of the environment variable holding the token
	Concurrency       int           // requests in flight at once
	RequestsPerSecond float64       // 0: no ceiling of our own (server headers still apply)
	MaxAttempts       int           // attempts per request for transient faults
	Timeout           time.Duration // per request
	// Bounds on what a server can make a run do, whatever it answers.
	MaxResponseBytes int64         // a body after decompression
	MaxPages         int64         // pages of one listing
	MaxWait          time.Duration // any single pause a server asks for
}

// Token returns the token from the variable named by TokenEnv, without the
// surrounding whitespace a secret file or echo adds. Validation has already
// refused a token with control characters inside.
func (g GitLab) Token(env func(string) (string, bool)) string {
	v, _ := env(g.TokenEnv)
	return strings.TrimSpace(v)
}

// Warehouse is the `warehouse:` section. Relative paths are resolved
// against the config file's directory.
type Warehouse struct {
	DuckDB string
	// Parquet is a local directory or an object store location:
	// s3://bucket/prefix, gs://bucket/prefix or azblob://container/prefix.
	Parquet string
	// ObjectStore reaches an S3-compatible server (MinIO, Ceph, R2,
	// Versity) for an s3:// Parquet; zero when not given (AWS itself).
	// Credentials are never configured here: each provider's standard
	// chain supplies them.
	ObjectStore ObjectStore
	// InternalNotes is a warehouse setting, not a pipeline's: the
	// warehouse (above all its Parquet directory) is the audience
	// boundary, and it stores each event once whichever pipeline read it
	// first, so a per-pipeline choice would leave an internal note read by
	// two pipelines (a project's events and a user's) kept or redacted
	// depending on which unit stored it first.
	InternalNotes InternalNotes
	// WorkflowLabelPrefix marks the scoped labels workflow_intervals reads
	// stages from (workflow::review is stage review) on items GitLab
	// records no work-item status for. A warehouse setting: the view is.
	WorkflowLabelPrefix string
	// Iceberg, when set, also writes every table to Iceberg (iceberg.go).
	Iceberg *Iceberg
}

// ObjectStore is `warehouse.object_store`. Its fields match
// load.ObjectStore, so that the one converts to the other.
type ObjectStore struct {
	Endpoint  string // http(s) URL of the server, no credentials
	Region    string
	PathStyle bool // bucket in the path (http://host/bucket/key), not the host name
}

// objectSchemes are the schemes warehouse.parquet accepts besides a path.
var objectSchemes = []string{"s3", "gs", "azblob"}

// IsObjectStore reports whether p names a bucket rather than a directory.
func IsObjectStore(p string) bool {
	scheme, _, ok := strings.Cut(p, "://")
	return ok && slices.Contains(objectSchemes, scheme)
}

// KeepsInternalNotes reports whether internal notes' bodies are stored;
// anything but an explicit keep redacts them.
func (w Warehouse) KeepsInternalNotes() bool { return w.InternalNotes == InternalNotesKeep }

// InternalNotes says what reaches the warehouse of notes GitLab marks
// internal (confidential).
type InternalNotes string

const (
	// InternalNotesRedact keeps the row, with note_internal true, and stores
	// its body as NULL.
	InternalNotesRedact InternalNotes = "redact"
	// InternalNotesKeep stores the body like any other.
	InternalNotesKeep InternalNotes = "keep"
)

// Ref is a project, group or user as written in the file: a number or a
// path/username.
type Ref struct {
	ID   int64  // set when the file gave a number
	Path string // set otherwise
}

func (r Ref) String() string {
	if r.Path != "" {
		return r.Path
	}
	return strconv.FormatInt(r.ID, 10)
}

// Pipeline is one entry of `pipelines:`.
type Pipeline struct {
	Name        string
	Projects    []Ref
	Groups      []Ref
	Users       []Ref
	CurrentUser bool
	// Streams names streams of schemas.Streams(): those listed, else the
	// default set, plus audit_events when AuditEvents is set.
	Streams []string
	// AuditEvents: the pipeline reads audit events (for its projects and
	// named groups). It is set when audit_events: true or when streams
	// lists audit_events; the two always agree after Parse.
	AuditEvents bool
	// InstanceAuditEvents: it reads the instance's audit events too
	// (administrators only). It needs AuditEvents.
	InstanceAuditEvents bool
	Since               time.Time     // UTC midnight; rows created before are not exported
	Overlap             time.Duration // re-read window for parents' updated_at
	// Stages are the value-stream stages the pipeline defines; the
	// stage_durations view holds those of every pipeline (Config.Stages).
	Stages []schemas.Stage
}

// HasStream reports whether the pipeline exports stream s.
func (p Pipeline) HasStream(s schemas.Stream) bool { return slices.Contains(p.Streams, s.Name()) }

// Defaults, in one place.
const (
	defaultTokenEnv = "GITLAB_TOKEN"
	defaultOverlap  = time.Hour
	defaultDuckDB   = "warehouse/gitlab.duckdb"
	defaultParquet  = "warehouse/parquet"
	// Redacting is the default: a warehouse is read by a wider audience
	// than a project's Reporters, and a body never stored cannot leak.
	defaultInternalNotes = InternalNotesRedact
	// GitLab's own convention for scoped workflow labels.
	defaultWorkflowLabelPrefix = "workflow::"
)

func applyDefaults(c *Config) {
	setIfZero(&c.GitLab.TokenEnv, defaultTokenEnv)
	// The client's keys default to the client's own defaults.
	def := extract.DefaultOptions()
	setIfZero(&c.GitLab.Concurrency, def.Concurrency)
	setIfZero(&c.GitLab.MaxAttempts, def.MaxAttempts)
	setIfZero(&c.GitLab.Timeout, def.Timeout)
	setIfZero(&c.GitLab.MaxResponseBytes, def.MaxResponseBytes)
	setIfZero(&c.GitLab.MaxPages, def.MaxPages)
	setIfZero(&c.GitLab.MaxWait, def.MaxWait)
	setIfZero(&c.Warehouse.DuckDB, defaultDuckDB)
	setIfZero(&c.Warehouse.Parquet, defaultParquet)
	setIfZero(&c.Warehouse.InternalNotes, defaultInternalNotes)
	setIfZero(&c.Warehouse.WorkflowLabelPrefix, defaultWorkflowLabelPrefix)
	applyIcebergDefaults(c.Warehouse.Iceberg)
	for i := range c.Pipelines {
		p := &c.Pipelines[i]
		if len(p.Streams) == 0 {
			p.Streams = schemas.DefaultStreamNames()
		}
		audit := schemas.AuditEventsStream.Name()
		if p.AuditEvents && !slices.Contains(p.Streams, audit) {
			p.Streams = append(p.Streams, audit)
		}
		p.AuditEvents = slices.Contains(p.Streams, audit)
		setIfZero(&p.Overlap, defaultOverlap)
		for j := range p.Stages {
			setIfZero(&p.Stages[j].Repeats, defaultRepeats)
		}
	}
}

func setIfZero[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Load reads, decodes, defaults and validates the file at path. Relative
// warehouse paths are made relative to the file's directory. env looks up
// environment variables (os.LookupEnv in production) so that a missing
// token variable is reported with the rest.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, env)
	if err != nil {
		return nil, err
	}
	dir := dirOf(path)
	c.Warehouse.DuckDB = resolve(dir, c.Warehouse.DuckDB)
	if !IsObjectStore(c.Warehouse.Parquet) {
		c.Warehouse.Parquet = resolve(dir, c.Warehouse.Parquet)
	}
	resolveIceberg(dir, c.Warehouse.Iceberg)
	return c, nil
}

// Parse decodes and validates a config document. All problems are joined in
// the returned error, one per line, each prefixed with its YAML path.
func Parse(data []byte, env func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config: not valid YAML: %w", err)
	}
	d := &decoder{}
	c := &Config{}
	if len(root.Content) == 0 {
		return nil, errors.New("config: file is empty")
	}
	d.config(root.Content[0], c)
	applyDefaults(c)
	d.validate(c, env)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return c, nil
}

// decoder walks the YAML tree by hand: yaml.v3's KnownFields reports
// unknown keys by line only and stops at the first type error, while users
// need every problem named by its path.
type decoder struct {
	errs []error
	// objectStore is the path of warehouse.object_store when the file
	// gives it, for the check that warehouse.parquet is then s3://.
	objectStore string
}

func (d *decoder) errf(path, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	d.errs = append(d.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// mapping calls fn for each key of a mapping node, rejecting keys that are
// not in allowed and keys given twice.
func (d *decoder) mapping(path string, n *yaml.Node, allowed []string, fn func(key string, v *yaml.Node, p string)) {
	if n.Kind != yaml.MappingNode {
		d.errf(path, "must be a mapping (line %d)", n.Line)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		p := k
		if path != "" {
			p = path + "." + k
		}
		switch {
		case !slices.Contains(allowed, k):
			d.errf(p, "unknown key (line %d; allowed: %s)", n.Content[i].Line, strings.Join(allowed, ", "))
		case seen[k]:
			d.errf(p, "given twice (line %d)", n.Content[i].Line)
		default:
			seen[k] = true
			fn(k, v, p)
		}
	}
}

func (d *decoder) config(n *yaml.Node, c *Config) {
	d.mapping("", n, []string{"gitlab", "warehouse", "pipelines"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "gitlab":
			d.gitlab(p, v, &c.GitLab)
		case "warehouse":
			d.mapping(p, v, []string{"duckdb", "parquet", "object_store", "internal_notes", "workflow_label_prefix", "iceberg"}, func(k string, v *yaml.Node, p string) {
				switch k {
				case "object_store":
					d.objectStore = p
					d.objectStoreBlock(p, v, &c.Warehouse.ObjectStore)
				case "duckdb":
					c.Warehouse.DuckDB = d.str(p, v)
				case "parquet":
					c.Warehouse.Parquet = d.str(p, v)
				case "internal_notes":
					switch s := InternalNotes(d.scalar(p, v)); s {
					case InternalNotesKeep, InternalNotesRedact:
						c.Warehouse.InternalNotes = s
					default:
						d.errf(p, "must be keep or redact, got %q", v.Value)
					}
				case "workflow_label_prefix":
					if c.Warehouse.WorkflowLabelPrefix = d.str(p, v); c.Warehouse.WorkflowLabelPrefix == "" && v.Kind == yaml.ScalarNode {
						d.errf(p, "must not be empty (every label would be a workflow stage)")
					}
				case "iceberg":
					c.Warehouse.Iceberg = d.iceberg(p, v)
				}
			})
		case "pipelines":
			if v.Kind != yaml.SequenceNode {
				d.errf(p, "must be a list of pipelines")
				return
			}
			for i, item := range v.Content {
				var pl Pipeline
				d.pipeline(fmt.Sprintf("pipelines[%d]", i), item, &pl)
				c.Pipelines = append(c.Pipelines, pl)
			}
		}
	})
}

func (d *decoder) objectStoreBlock(path string, n *yaml.Node, o *ObjectStore) {
	d.mapping(path, n, []string{"endpoint", "region", "path_style"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "endpoint":
			o.Endpoint = d.str(p, v)
			u, err := url.Parse(o.Endpoint)
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				d.errf(p, "not an http(s) URL: %q", o.Endpoint)
			case u.User != nil:
				d.errf(p, "must not carry credentials; they come from the AWS credential chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared config, workload identity)")
			case u.RawQuery != "" || u.Fragment != "":
				d.errf(p, "must not have a query or fragment (%s://%s%s?…)", u.Scheme, u.Host, u.Path)
			}
		case "region":
			if o.Region = d.str(p, v); !regionRE.MatchString(o.Region) && v.Kind == yaml.ScalarNode {
				d.errf(p, "must be a region name like us-east-1, got %q", o.Region)
			}
		case "path_style":
			o.PathStyle = d.boolean(p, v)
		}
	})
}

var (
	regionRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	s3BucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// validateParquet checks warehouse.parquet when it names a bucket, and
// that warehouse.object_store goes with an s3:// one.
func (d *decoder) validateParquet(w Warehouse) {
	const path = "warehouse.parquet"
	scheme, _, isURL := strings.Cut(w.Parquet, "://")
	if isURL && !slices.Contains(objectSchemes, scheme) {
		d.errf(path, "unknown scheme %q (want s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix or a local path)", scheme)
		return
	}
	if d.objectStore != "" && scheme != "s3" {
		d.errf(d.objectStore, "applies only to an s3:// warehouse.parquet (an S3-compatible server), not %q", w.Parquet)
	}
	if !isURL {
		return
	}
	u, err := url.Parse(w.Parquet)
	switch {
	case err != nil:
		d.errf(path, "not a valid URL: %q", w.Parquet)
	case u.User != nil:
		d.errf(path, "must not carry credentials; they come from the provider's standard chain (environment, shared config, workload identity)")
	case u.RawQuery != "" || u.Fragment != "":
		d.errf(path, "must not have a query or fragment (%s://%s%s?…); an S3-compatible server is set in warehouse.object_store", u.Scheme, u.Host, u.Path)
	case u.Host == "":
		d.errf(path, "names no bucket: want %s://bucket/prefix, got %q", scheme, w.Parquet)
	case scheme == "s3" && !s3BucketRE.MatchString(u.Host):
		d.errf(path, "%q is not a valid S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-')", u.Host)
	}
}

func (d *decoder) gitlab(path string, n *yaml.Node, g *GitLab) {
	keys := []string{"url", "token_env", "concurrency", "requests_per_second", "max_attempts", "timeout",
		"max_response_bytes", "max_pages", "max_wait"}
	d.mapping(path, n, keys, func(k string, v *yaml.Node, p string) {
		switch k {
		case "url":
			g.URL = d.str(p, v)
		case "token_env":
			g.TokenEnv = d.str(p, v)
		case "concurrency":
			g.Concurrency = d.intIn(p, v, 1, 64)
		case "max_attempts":
			g.MaxAttempts = d.intIn(p, v, 1, 100)
		case "requests_per_second":
			f, err := strconv.ParseFloat(d.scalar(p, v), 64)
			if err != nil || !(f > 0) { // NaN too
				d.errf(p, "must be a positive number, got %q", v.Value)
			}
			g.RequestsPerSecond = f
		case "timeout":
			g.Timeout = d.duration(p, v)
		case "max_response_bytes":
			g.MaxResponseBytes = d.int64In(p, v, 1<<20, 1<<32)
		case "max_pages":
			g.MaxPages = d.int64In(p, v, 1, 100_000_000)
		case "max_wait":
			g.MaxWait = d.duration(p, v)
		}
	})
}

func (d *decoder) pipeline(path string, n *yaml.Node, pl *Pipeline) {
	keys := []string{"name", "projects", "groups", "users", "current_user", "streams", "audit_events",
		"instance_audit_events", "since", "overlap", "stages"}
	auditOff := "" // the path of an explicit audit_events: false
	d.mapping(path, n, keys, func(k string, v *yaml.Node, p string) {
		switch k {
		case "name":
			pl.Name = d.str(p, v)
		case "projects":
			pl.Projects = d.refs(p, v)
		case "groups":
			pl.Groups = d.refs(p, v)
		case "users":
			pl.Users = d.refs(p, v)
		case "current_user":
			pl.CurrentUser = d.boolean(p, v)
		case "audit_events":
			if pl.AuditEvents = d.boolean(p, v); !pl.AuditEvents && v.Value == "false" {
				auditOff = p
			}
		case "instance_audit_events":
			pl.InstanceAuditEvents = d.boolean(p, v)
		case "streams":
			if v.Kind != yaml.SequenceNode {
				d.errf(p, "must be a list of stream names")
				return
			}
			for i, s := range v.Content {
				name := d.str(fmt.Sprintf("%s[%d]", p, i), s)
				if _, known := schemas.StreamByName(name); s.Kind == yaml.ScalarNode && !known { // str reported a non-scalar
					d.errf(fmt.Sprintf("%s[%d]", p, i), "unknown stream %q (known: %s)", name, strings.Join(schemas.StreamNames(), ", "))
					continue
				}
				if slices.Contains(pl.Streams, name) {
					d.errf(fmt.Sprintf("%s[%d]", p, i), "stream %q listed twice", name)
					continue
				}
				pl.Streams = append(pl.Streams, name)
			}
		case "since":
			s := d.scalar(p, v)
			t, err := time.Parse(time.DateOnly, s)
			if err != nil {
				d.errf(p, "not a date (want YYYY-MM-DD), got %q", s)
				return
			}
			pl.Since = t
		case "overlap":
			pl.Overlap = d.duration(p, v)
		case "stages":
			pl.Stages = d.stages(p, v)
		}
	})
	if auditOff != "" && slices.Contains(pl.Streams, schemas.AuditEventsStream.Name()) {
		d.errf(auditOff, "is false, but streams lists audit_events; remove one of them")
	}
}

func (d *decoder) boolean(path string, n *yaml.Node) bool {
	switch d.scalar(path, n) {
	case "true":
		return true
	case "false":
	default:
		d.errf(path, "must be true or false, got %q", n.Value)
	}
	return false
}

func (d *decoder) scalar(path string, n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		d.errf(path, "must be a single value")
		return ""
	}
	return n.Value
}

func (d *decoder) str(path string, n *yaml.Node) string {
	s := d.scalar(path, n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!str" {
		d.errf(path, "must be a string, got %q", s)
	}
	return s
}

func (d *decoder) intIn(path string, n *yaml.Node, lo, hi int) int {
	s := d.scalar(path, n)
	i, err := strconv.Atoi(s)
	if err != nil || i < lo || i > hi {
		d.errf(path, "must be a whole number from %d to %d, got %q", lo, hi, s)
	}
	return i
}

func (d *decoder) int64In(path string, n *yaml.Node, lo, hi int64) int64 {
	s := d.scalar(path, n)
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i < lo || i > hi {
		d.errf(path, "must be a whole number from %d to %d, got %q", lo, hi, s)
	}
	return i
}

func (d *decoder) duration(path string, n *yaml.Node) time.Duration {
	s := d.scalar(path, n)
	t, err := time.ParseDuration(s)
	if err != nil || t <= 0 {
		d.errf(path, "must be a positive duration like 30s or 1h, got %q", s)
	}
	return t
}

// refs decodes a list of numeric ids or path/username strings.
func (d *decoder) refs(path string, n *yaml.Node) []Ref {
	if n.Kind != yaml.SequenceNode {
		d.errf(path, "must be a list")
		return nil
	}
	var out []Ref
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		s := strings.TrimSpace(d.scalar(p, item))
		switch {
		case s == "":
			d.errf(p, "empty")
		case item.Tag == "!!int":
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				d.errf(p, "not a valid id: %q", s)
				continue
			}
			out = append(out, Ref{ID: id})
		case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//") || strings.ContainsAny(s, " \t?#"):
			d.errf(p, "not a valid path: %q", s)
		default:
			out = append(out, Ref{Path: s})
		}
	}
	return out
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (d *decoder) validate(c *Config, env func(string) (string, bool)) {
	if c.GitLab.URL == "" {
		d.errf("gitlab.url", "required")
	} else if u, err := url.Parse(c.GitLab.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.errf("gitlab.url", "not an http(s) URL: %q", c.GitLab.URL)
	} else if u.User != nil {
		d.errf("gitlab.url", "must not carry credentials; put the token in the variable named by gitlab.token_env")
	} else if u.RawQuery != "" || u.Fragment != "" {
		// Not quoted: a query may carry a private_token.
		d.errf("gitlab.url", "must not have a query or fragment (%s://%s%s?…); put the token in the variable named by gitlab.token_env", u.Scheme, u.Host, u.Path)
	}
	if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(c.GitLab.TokenEnv) {
		d.errf("gitlab.token_env", "not an environment variable name: %q", c.GitLab.TokenEnv)
	} else if tok := c.GitLab.Token(env); tok == "" {
		d.errf("gitlab.token_env", "environment variable %s is not set (it must hold the GitLab token)", c.GitLab.TokenEnv)
	} else if i := strings.IndexFunc(tok, isControl); i >= 0 {
		// Never quoted: the value is a secret. A control character cannot
		// be sent in a header, so every request would fail.
		d.errf("gitlab.token_env", "environment variable %s holds a control character (byte %d of the token, %s); remove it (a pasted CR or LF?)",
			c.GitLab.TokenEnv, i+1, controlName(tok[i:]))
	}
	d.validateParquet(c.Warehouse)
	if len(c.Pipelines) == 0 {
		d.errf("pipelines", "at least one pipeline is required")
	}
	names := map[string]int{}
	for i, p := range c.Pipelines {
		path := fmt.Sprintf("pipelines[%d]", i)
		switch {
		case p.Name == "":
			d.errf(path+".name", "required")
		case !nameRE.MatchString(p.Name):
			d.errf(path+".name", "use letters, digits, '.', '_' and '-' only, got %q", p.Name)
		default:
			if j, dup := names[p.Name]; dup {
				d.errf(path+".name", "%q is also the name of pipelines[%d]", p.Name, j)
			}
			names[p.Name] = i
		}
		if len(p.Projects)+len(p.Groups)+len(p.Users) == 0 && !p.CurrentUser && !p.InstanceAuditEvents {
			d.errf(path, "names no scope: give at least one of projects, groups, users, current_user: true or instance_audit_events: true")
		}
		if p.InstanceAuditEvents && !p.AuditEvents {
			d.errf(path+".instance_audit_events", "needs audit events on: set audit_events: true or list audit_events in streams")
		}
		if p.Since.IsZero() {
			d.errf(path+".since", "required (YYYY-MM-DD): where a first run starts")
		} else if p.Since.After(time.Now()) {
			d.errf(path+".since", "%s is in the future", p.Since.Format(time.DateOnly))
		}
	}
	d.validateStages(c)
	d.validateIceberg("warehouse.iceberg", c.Warehouse.Iceberg)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

func controlName(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	switch r {
	case '\r':
		return "CR"
	case '\n':
		return "LF"
	case '\t':
		return "TAB"
	}
	return fmt.Sprintf("U+%04X", r)
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return "."
}

func resolve(dir, p string) string {
	if strings.HasPrefix(p, "/") || dir == "." {
		return p
	}
	return dir + "/" + p
}

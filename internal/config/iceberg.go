package config

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Iceberg is the optional `warehouse.iceberg:` section: every table is also
// written as an Apache Iceberg table registered in a catalog, so that
// engines other than DuckDB (Trino, Spark, Snowflake) read the same rows
// with snapshot isolation.
type Iceberg struct {
	// Catalog is "sql" (a SQLite file or PostgreSQL database holding the
	// catalog tables) or "rest" (an Iceberg REST catalog).
	Catalog IcebergCatalog
	// URI is, for sql, a postgres:// URL or a SQLite file path (relative to
	// the config file); for rest, the catalog's http(s) URL. A postgres URL
	// may carry a password: String never shows it.
	URI string
	// Warehouse is where table data and metadata go: a local directory
	// (relative to the config file) or an s3:// URL. Required for sql; a
	// REST catalog may choose it itself.
	Warehouse string
	// Namespace holds labtrail's tables.
	Namespace string
	// SnapshotRetention is how long a snapshot stays readable by time
	// travel after a newer one replaced it.
	SnapshotRetention time.Duration
}

// IcebergCatalog names a catalog implementation.
type IcebergCatalog string

const (
	IcebergSQL  IcebergCatalog = "sql"
	IcebergREST IcebergCatalog = "rest"
)

// IsPostgres reports whether a sql catalog's URI names a PostgreSQL
// database rather than a SQLite file.
func (i Iceberg) IsPostgres() bool {
	return strings.HasPrefix(i.URI, "postgres://") || strings.HasPrefix(i.URI, "postgresql://")
}

// RedactedURI is URI with any password replaced, for messages.
func (i Iceberg) RedactedURI() string {
	if u, err := url.Parse(i.URI); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return i.URI
}

const (
	defaultIcebergCatalog   = IcebergSQL
	defaultIcebergNamespace = "labtrail"
	// A week: a reader may travel a week back, and a run killed on Friday
	// is still recovered from the table on Monday.
	defaultSnapshotRetention = 168 * time.Hour
)

func applyIcebergDefaults(i *Iceberg) {
	if i == nil {
		return
	}
	setIfZero(&i.Catalog, defaultIcebergCatalog)
	setIfZero(&i.Namespace, defaultIcebergNamespace)
	setIfZero(&i.SnapshotRetention, defaultSnapshotRetention)
}

func (d *decoder) iceberg(path string, n *yaml.Node) *Iceberg {
	i := &Iceberg{}
	d.mapping(path, n, []string{"catalog", "uri", "warehouse", "namespace", "snapshot_retention"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "catalog":
			switch c := IcebergCatalog(d.scalar(p, v)); c {
			case IcebergSQL, IcebergREST:
				i.Catalog = c
			default:
				d.errf(p, "must be sql or rest, got %q", v.Value)
			}
		case "uri":
			i.URI = d.str(p, v)
		case "warehouse":
			i.Warehouse = d.str(p, v)
		case "namespace":
			i.Namespace = d.str(p, v)
		case "snapshot_retention":
			i.SnapshotRetention = d.duration(p, v)
		}
	})
	return i
}

var namespaceRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validateIceberg checks the section after defaults. No message quotes the
// URI of a sql catalog whole: a postgres URL may carry a password.
func (d *decoder) validateIceberg(path string, i *Iceberg) {
	if i == nil {
		return
	}
	switch {
	case i.URI == "":
		d.errf(path+".uri", "required")
	case i.Catalog == IcebergREST:
		if u, err := url.Parse(i.URI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.errf(path+".uri", "a rest catalog needs an http(s) URL, got %q", i.RedactedURI())
		} else if u.User != nil {
			d.errf(path+".uri", "must not carry credentials")
		}
	case i.Catalog == IcebergSQL && i.IsPostgres():
		if u, err := url.Parse(i.URI); err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			d.errf(path+".uri", "a postgres URL needs a host and a database (postgres://user@host:5432/db)")
		}
	case i.Catalog == IcebergSQL && strings.Contains(i.URI, "://"):
		d.errf(path+".uri", "a sql catalog is a postgres:// URL or a SQLite file path, got %q", i.RedactedURI())
	}
	switch {
	case i.Warehouse == "" && i.Catalog == IcebergSQL:
		d.errf(path+".warehouse", "required with a sql catalog: a directory or an s3:// URL")
	case strings.Contains(i.Warehouse, "://") && !strings.HasPrefix(i.Warehouse, "s3://") && !strings.HasPrefix(i.Warehouse, "file://"):
		d.errf(path+".warehouse", "must be a directory, file:// or s3:// URL, got %q", i.Warehouse)
	case strings.HasPrefix(i.Warehouse, "s3://") && strings.Trim(strings.TrimPrefix(i.Warehouse, "s3://"), "/") == "":
		d.errf(path+".warehouse", "an s3:// URL needs a bucket")
	}
	if !namespaceRE.MatchString(i.Namespace) {
		d.errf(path+".namespace", "use letters, digits and '_' only, got %q", i.Namespace)
	}
}

// resolveIceberg makes a SQLite catalog file and a sql catalog's local
// warehouse directory relative to dir, like the other warehouse paths.
func resolveIceberg(dir string, i *Iceberg) {
	if i == nil {
		return
	}
	if i.Catalog == IcebergSQL && !i.IsPostgres() {
		i.URI = resolve(dir, i.URI)
	}
	// A REST catalog's warehouse is a name or location the catalog
	// interprets, never a path of ours.
	if i.Catalog == IcebergSQL && i.Warehouse != "" && !strings.Contains(i.Warehouse, "://") {
		i.Warehouse = resolve(dir, i.Warehouse)
	}
}

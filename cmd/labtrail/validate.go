package main

import (
	"fmt"
	"io"
	"os"
)

// cmdValidate checks a config file and prints every problem, one per line,
// each with its YAML path.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("validate", stderr, &c)
	if _, err := parse(fs, args); err != nil {
		return exitUsage
	}
	cfg, err := c.load(stderr, os.LookupEnv)
	if err != nil {
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s is valid: %d pipeline(s), %d value-stream stage(s), warehouse %s and %s\n",
		c.config, len(cfg.Pipelines), len(cfg.Stages()), cfg.Warehouse.DuckDB, cfg.Warehouse.Parquet)
	if ice := cfg.Warehouse.Iceberg; ice != nil {
		// RedactedURI: a postgres URL may carry a password.
		fmt.Fprintf(stdout, "Iceberg: %s catalog %s, warehouse %s, namespace %s, snapshots kept %s\n",
			ice.Catalog, ice.RedactedURI(), ice.Warehouse, ice.Namespace, ice.SnapshotRetention)
	}
	return exitOK
}

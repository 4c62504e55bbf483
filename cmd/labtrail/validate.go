package main

import (
	"fmt"
	"io"
	"os"

	"github.com/labtrail/labtrail/internal/config"
)

// cmdValidate checks a config file and prints every problem, one per line,
// each with its YAML path.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	var c common
	fs := newFlagSet("validate", stderr, &c)
	if _, err := parse(fs, args); err != nil {
		return exitUsage
	}
	cfg, err := config.Load(c.config, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%v\n", c.config, err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s is valid: %d pipeline(s), warehouse %s and %s\n",
		c.config, len(cfg.Pipelines), cfg.Warehouse.DuckDB, cfg.Warehouse.Parquet)
	return exitOK
}

package pipeline

import (
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/load"
)

// Environment variables holding a REST catalog's credentials: secrets
// never go in the config file.
const (
	envIcebergCredential = "LABTRAIL_ICEBERG_CREDENTIAL" // client_id:client_secret (OAuth2 client credentials)
	envIcebergToken      = "LABTRAIL_ICEBERG_TOKEN"      // a bearer token
)

// IcebergOptions maps warehouse.iceberg to load's options (an s3://
// Iceberg warehouse is reached like the Parquet tree, through
// warehouse.object_store), with a REST
// catalog's credentials from env (nil env: none); nil when the config has
// no Iceberg section, so a warehouse without it never touches Iceberg.
// A shard of a sharded run shares the dimension tables with the others.
func IcebergOptions(cfg *config.Config, env func(string) (string, bool), sh Shard) *load.IcebergOptions {
	ice := cfg.Warehouse.Iceberg
	if ice == nil {
		return nil
	}
	o := &load.IcebergOptions{
		Catalog: string(ice.Catalog), URI: ice.URI, Warehouse: ice.Warehouse, Namespace: ice.Namespace,
		SnapshotRetention: ice.SnapshotRetention, ObjectStore: load.ObjectStore(cfg.Warehouse.ObjectStore),
		SharedDimensions: sh.Sharded(),
	}
	if env != nil {
		o.Credential, _ = env(envIcebergCredential)
		o.Token, _ = env(envIcebergToken)
	}
	return o
}

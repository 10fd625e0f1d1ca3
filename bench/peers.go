// Package bench holds go test benchmarks that compare NebulaIO's components with their peers
// (hashicorp/raft-wal, hashicorp/raft-boltdb/v2, raft's FileSnapshotStore) in the same run.
//
// It is a module of its own so that the go-metrics pin the peers need never reaches NebulaIO's
// module. Run it with `make bench`.
package bench

import (
	_ "github.com/hashicorp/raft-boltdb/v2" // peer: raft-boltdb
	_ "github.com/hashicorp/raft-wal"       // peer: raft-wal
)

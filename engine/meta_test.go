package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/fsm"
)

// testFSM is what the cluster tests need of a node's state machine.
type testFSM interface {
	raft.FSM
	// get returns the value of key.
	get(key string) (string, bool)
	// copyData returns every key and value.
	copyData() map[string]string
}

var (
	_ testFSM = (*kvFSM)(nil)
	_ testFSM = (*metaFSM)(nil)
)

// metaCacheSize is performance.metadata_cache_size of the metaFSM variants of the cluster
// tests: the nodes keep the changed records and up to this many clean ones, and read the
// rest from their snapshot runs (the snapshot-install test writes 600 keys with a raft log of
// 64 entries, so its followers restore from runs and read from them).
const metaCacheSize = 1000

// metaFSM runs NebulaIO's metadata FSM in the cluster tests: key k is object k of bucket
// kvBucket and its value the object's ETag. It is embedded so that the engine sees the
// optional interfaces (AttachSnapshots, SnapshotWanted) the real server's FSM has.
type metaFSM struct {
	*fsm.FSM
	t testing.TB
}

func newMetaFSM(t testing.TB, cacheSize, maxDirty int) *metaFSM {
	return &metaFSM{FSM: fsm.New(fsm.Options{CacheSize: cacheSize, MaxDirty: maxDirty}), t: t}
}

func (m *metaFSM) get(key string) (string, bool) {
	o, err := m.Object(kvBucket, key)
	if err != nil {
		if !errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchKey}) && !errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchBucket}) {
			m.t.Errorf("metaFSM get %q: %v", key, err)
		}
		return "", false
	}
	return o.ETag, true
}

// copyData walks the bucket with ListObjects, a page at a time, and checks the key order.
func (m *metaFSM) copyData() map[string]string {
	out := map[string]string{}
	p := fsm.ListParams{}
	last := ""
	for {
		res, err := m.ListObjects(kvBucket, p)
		if errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchBucket}) {
			return out
		}
		if err != nil {
			m.t.Errorf("metaFSM list: %v", err)
			return out
		}
		for _, o := range res.Contents {
			if o.Key <= last {
				m.t.Errorf("metaFSM list: %q after %q", o.Key, last)
			}
			last = o.Key
			out[o.Key] = o.ETag
		}
		if !res.IsTruncated {
			return out
		}
		p.ContinuationToken = res.NextMarker
	}
}

// fsmVariants runs a cluster test with the kv FSM and with the metadata FSM behind a cache of
// metaCacheSize records.
func fsmVariants(t *testing.T, opts clusterOpts, test func(t *testing.T, opts clusterOpts)) {
	t.Run("fsm=kv", func(t *testing.T) { test(t, opts) })
	opts.metaCache = metaCacheSize
	t.Run(fmt.Sprintf("fsm=meta/cache=%d", metaCacheSize), func(t *testing.T) { test(t, opts) })
}

package engine

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/snapshot"
)

// kvFSM is a small key/value state machine for engine tests: a command sets a key to a value
// and returns the previous value. Commands are metadata events (encodeSet: an object put in
// bucket kvBucket, the value as its ETag) so that the same cluster tests run against
// NebulaIO's metadata FSM too (metaFSM); kvFSM ignores other events. It snapshots through the
// snapshot stream format so our snapshot store can hold it.
type kvFSM struct {
	mu   sync.RWMutex
	data map[string]string
	// applied counts entries applied, to check nothing is applied twice.
	applied int
	// delay slows every Apply down, as a loaded machine or a long log replay does; set before
	// the node opens.
	delay time.Duration
	// entryBytes sums the commands applied per raft index (an envelope's sub-entries share its
	// index).
	entryBytes map[uint64]int
}

func newKV() *kvFSM { return &kvFSM{data: map[string]string{}, entryBytes: map[uint64]int{}} }

// kvBucket holds the keys of the cluster tests.
const kvBucket = "kvs"

func encodeSet(key, value string) []byte {
	b, err := fsm.Encode(&fsm.PutObject{Bucket: kvBucket, Key: key, ETag: value})
	if err != nil {
		panic(err)
	}
	return b
}

var errBadCommand = errors.New("kv: bad command")

func (f *kvFSM) Apply(l *raft.Log) any {
	ev, err := fsm.Decode(l.Data)
	if err != nil {
		return errBadCommand
	}
	put, ok := ev.(*fsm.PutObject)
	if !ok {
		return nil // the bucket a metaFSM cluster creates first
	}
	if f.delay > 0 {
		time.Sleep(f.delay) // simulated slow apply, not synchronisation
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.data[put.Key]
	f.data[put.Key] = put.ETag
	f.applied++
	f.entryBytes[l.Index] += len(l.Data)
	return prev
}

func (f *kvFSM) get(key string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v, ok := f.data[key]
	return v, ok
}

func (f *kvFSM) copyData() map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]string, len(f.data))
	for k, v := range f.data {
		out[k] = v
	}
	return out
}

type kvSnapshot struct{ data map[string]string }

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) { return &kvSnapshot{f.copyData()}, nil }

func (s *kvSnapshot) Persist(sink raft.SnapshotSink) error {
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w, err := snapshot.NewStreamWriter(sink, snapshot.StreamHeader{Kind: snapshot.KindFull})
	if err == nil {
		for _, k := range keys {
			if err = w.Put([]byte(k), []byte(s.data[k])); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *kvSnapshot) Release() {}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r, err := snapshot.NewStreamReader(rc)
	if err != nil {
		return err
	}
	data := map[string]string{}
	for {
		k, v, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		data[string(k)] = string(v)
	}
	f.mu.Lock()
	f.data = data
	f.mu.Unlock()
	return nil
}

// kvResults encodes the kv FSM's results (a string or an error) for forwarding.
type kvResults struct{}

func (kvResults) EncodeResult(r any) ([]byte, error) {
	switch v := r.(type) {
	case string:
		return append([]byte{0}, v...), nil
	case error:
		return append([]byte{1}, v.Error()...), nil
	case nil:
		return []byte{2}, nil
	}
	return nil, fmt.Errorf("kv: cannot encode %T", r)
}

func (kvResults) DecodeResult(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, errors.New("kv: empty result")
	}
	switch b[0] {
	case 0:
		return string(b[1:]), nil
	case 1:
		return errors.New(string(b[1:])), nil
	case 2:
		return nil, nil
	}
	return nil, fmt.Errorf("kv: bad result tag %d", b[0])
}

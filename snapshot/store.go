package snapshot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

var _ raft.SnapshotStore = (*Store)(nil)
var _ raft.SnapshotSink = (*sink)(nil)

// Store is a raft.SnapshotStore that keeps each snapshot as a manifest naming compressed,
// sorted runs: a base and zero or more deltas. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	fs   vfs.FS // opts.FS
	enc  *encoderPool
	// cache holds decompressed chunks for Reader.Get; nil when disabled. It locks itself.
	cache *chunkCache

	// compactMu serialises compactions; background compaction only TryLocks it.
	compactMu sync.Mutex
	bg        sync.WaitGroup // background compactions in flight

	// mu guards the fields below and every change to the directory's published names
	// (run renames, manifest writes and removals, reaping).
	mu        sync.Mutex
	manifests map[string]*manifest // by snapshot ID; never mutated, replaced on change
	indexes   map[string]*runIndex // by run name; every run a manifest names is here
	seq       uint64               // last sequence number handed out (IDs and run names)
	closed    bool
}

// NewStore opens (creating if needed) the snapshot store in dir. It removes leftovers of
// interrupted writes (*.tmp), sets aside manifests that are corrupt or name a missing or
// corrupt run (renamed *.corrupt and logged), deletes runs no manifest names, and applies
// retention.
func NewStore(dir string, opts Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := o.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	s := &Store{
		dir:       dir,
		opts:      o,
		fs:        o.FS,
		enc:       &encoderPool{level: o.zstdLevel()},
		manifests: make(map[string]*manifest),
		indexes:   make(map[string]*runIndex),
	}
	if o.CacheBytes > 0 {
		s.cache = newChunkCache(o.CacheBytes)
	}
	entries, err := s.fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case isTemp(name):
			if err := s.fs.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("snapshot: removing leftover: %w", err)
			}
		case runPattern.MatchString(name):
			if n, err := strconv.ParseUint(name[4:20], 16, 64); err == nil && n > s.seq {
				s.seq = n
			}
		case strings.HasSuffix(name, manifestSuffix):
			b, err := vfs.ReadFile(s.fs, filepath.Join(dir, name))
			if err != nil {
				return nil, fmt.Errorf("snapshot: %w", err)
			}
			m, err := decodeManifest(name, b)
			if err == nil {
				err = s.loadRuns(m)
			}
			if err != nil {
				s.setAside(name, err)
				continue
			}
			s.manifests[m.ID] = m
			if m.Seq > s.seq {
				s.seq = m.Seq
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reapLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// loadRuns reads and validates the index of every run m names that is not loaded yet.
func (s *Store) loadRuns(m *manifest) error {
	for _, name := range m.Runs {
		if _, ok := s.indexes[name]; ok {
			continue
		}
		f, err := s.fs.OpenFile(filepath.Join(s.dir, name), os.O_RDONLY, 0)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err == nil {
			var ix *runIndex
			ix, err = readRunIndex(name, f, st.Size())
			if err == nil {
				s.indexes[name] = ix
			}
		}
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	for i, name := range m.Runs {
		if want := byte(runKindDelta); i == 0 && s.indexes[name].kind != runKindBase || i > 0 && s.indexes[name].kind != want {
			return fmt.Errorf("%w: run %s has the wrong kind for position %d", ErrCorrupt, name, i)
		}
	}
	return nil
}

func (s *Store) setAside(name string, err error) {
	s.opts.Logger.Error().Err(err).Str("manifest", name).Msg("snapshot: setting aside unusable manifest")
	p := filepath.Join(s.dir, name)
	if rerr := s.fs.Rename(p, p+".corrupt"); rerr != nil {
		s.opts.Logger.Error().Err(rerr).Str("manifest", name).Msg("snapshot: cannot rename unusable manifest")
	}
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close waits for background compaction and makes further Create, Open and Reader calls
// fail with ErrClosed. Readers and streams already open stay usable until closed.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.bg.Wait()
	return nil
}

func (s *Store) nextSeqLocked() uint64 {
	s.seq++
	return s.seq
}

// Create starts a snapshot at index/term; the returned sink parses the logical stream as it
// is written. It implements raft.SnapshotStore.
func (s *Store) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	start := time.Now()
	if version < raft.SnapshotVersionMin || version > raft.SnapshotVersionMax {
		return nil, fmt.Errorf("snapshot: unsupported snapshot version %d", version)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	seq := s.nextSeqLocked()
	runSeq := s.nextSeqLocked()
	s.mu.Unlock()

	m := &manifest{
		ID:                 snapshotID(term, index, seq),
		Index:              index,
		Term:               term,
		Seq:                seq,
		Version:            version,
		Configuration:      configuration.Clone(),
		ConfigurationIndex: configurationIndex,
	}
	pr, pw := io.Pipe()
	k := &sink{
		s:     s,
		m:     m,
		run:   runName(runSeq),
		pw:    pw,
		done:  make(chan sinkResult, 1),
		start: start,
	}
	go k.consume(pr)
	s.opts.Metrics.Observe(MetricCreateSeconds, time.Since(start).Seconds())
	return k, nil
}

// List returns the snapshots newest first (highest index first). Size is the number of bytes
// the snapshot's sink received; Open reports the exact length of the stream it returns.
func (s *Store) List() ([]*raft.SnapshotMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.sortedLocked()
	out := make([]*raft.SnapshotMeta, len(ms))
	for i, m := range ms {
		out[i] = m.meta(m.SinkSize)
	}
	return out, nil
}

func (s *Store) sortedLocked() []*manifest {
	ms := make([]*manifest, 0, len(s.manifests))
	for _, m := range s.manifests {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return newer(ms[i], ms[j]) })
	return ms
}

// openRunsLocked opens every run m names; holding the handles pins the runs.
func (s *Store) openRunsLocked(m *manifest) ([]openRun, error) {
	runs := make([]openRun, 0, len(m.Runs))
	for _, name := range m.Runs {
		f, err := s.fs.OpenFile(filepath.Join(s.dir, name), os.O_RDONLY, 0)
		if err != nil {
			closeRuns(runs)
			return nil, fmt.Errorf("snapshot %s: run %s: %w", m.ID, name, err)
		}
		runs = append(runs, openRun{ix: s.indexes[name], f: f})
	}
	return runs, nil
}

func closeRuns(runs []openRun) {
	for _, r := range runs {
		_ = r.f.Close()
	}
}

// pin looks up snapshot id and opens its runs.
func (s *Store) pin(id string) (*manifest, []openRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	m := s.manifests[id]
	if m == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	runs, err := s.openRunsLocked(m)
	return m, runs, err
}

// Open returns the snapshot's metadata and its full state as a KindFull logical stream with
// Source set to id: the base merged with the deltas, newest wins, tombstones dropped.
// meta.Size is the exact length of the stream. Checksums are verified as the stream is read;
// a damaged chunk fails the read with an error naming the snapshot, run and chunk.
func (s *Store) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	start := time.Now()
	m, runs, err := s.pin(id)
	if err != nil {
		return nil, nil, err
	}
	dataSize, records := m.DataSize, m.Records
	if dataSize < 0 {
		// A snapshot with deltas: size the merged view once and remember it.
		dataSize, records, err = sizeMerged(runs)
		if err != nil {
			closeRuns(runs)
			return nil, nil, fmt.Errorf("snapshot %s: %w", id, err)
		}
		s.mu.Lock()
		if cur := s.manifests[id]; cur != nil && hasPrefix(cur.Runs, m.Runs) && len(cur.Runs) == len(m.Runs) {
			c := cur.clone()
			c.DataSize, c.Records = dataSize, records
			s.manifests[id] = c
		}
		s.mu.Unlock()
	}
	hdr := encodeHeader(nil, StreamHeader{Kind: KindFull, Source: id})
	out := newStreamOut(s, id, hdr, runs, dataSize, records)
	s.opts.Metrics.Observe(MetricOpenSeconds, time.Since(start).Seconds())
	return m.meta(int64(len(hdr)) + dataSize + streamTrailerSize), out, nil
}

// sizeMerged walks the merged view and returns its record bytes and record count.
func sizeMerged(runs []openRun) (int64, int64, error) {
	it := newMergeIter(runs, nil, nil, readAhead())
	defer it.close()
	var size, n int64
	for it.next() {
		size += int64(recordSize(false, len(it.key), len(it.val)))
		n++
	}
	return size, n, it.err
}

// ---- publishing and reaping ----

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

func (s *Store) syncDir() error { return s.fs.SyncDir(s.dir) }

// writeManifestLocked publishes m atomically: temp file, fsync, rename, directory fsync
// (vfs.WriteFile).
func (s *Store) writeManifestLocked(m *manifest) error {
	b, err := encodeManifest(m)
	if err != nil {
		return err
	}
	if err := vfs.WriteFile(s.fs, s.path(m.ID+manifestSuffix), b, 0o644); err != nil {
		return fmt.Errorf("snapshot %s: writing manifest: %w", m.ID, err)
	}
	return nil
}

// publishRunLocked renames a finished temp run to its final name and syncs the directory.
func (s *Store) publishRunLocked(ix *runIndex) error {
	if err := s.fs.Rename(s.path(ix.name+tmpSuffix), s.path(ix.name)); err != nil {
		return err
	}
	if err := s.syncDir(); err != nil {
		return err
	}
	s.indexes[ix.name] = ix
	return nil
}

// reapLocked removes the manifests beyond Retain (oldest first), then deletes every run no
// remaining manifest names. Manifests go first, so a crash in between leaves only orphan
// runs, which the next NewStore deletes.
func (s *Store) reapLocked() error {
	ms := s.sortedLocked()
	removed := false
	for _, m := range ms[min(len(ms), s.opts.Retain):] {
		if err := s.fs.Remove(s.path(m.ID + manifestSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("snapshot %s: reaping: %w", m.ID, err)
		}
		delete(s.manifests, m.ID)
		removed = true
	}
	if removed {
		if err := s.syncDir(); err != nil {
			return fmt.Errorf("snapshot: reaping: %w", err)
		}
	}
	used := make(map[string]bool)
	for _, m := range s.manifests {
		for _, r := range m.Runs {
			used[r] = true
		}
	}
	entries, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("snapshot: reaping: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if runPattern.MatchString(name) && !used[name] {
			if err := s.fs.Remove(s.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("snapshot: reaping run %s: %w", name, err)
			}
			delete(s.indexes, name)
		}
	}
	s.gaugesLocked()
	return nil
}

func (s *Store) gaugesLocked() {
	var chunks, bytes int64
	for _, ix := range s.indexes {
		chunks += int64(len(ix.chunks))
		bytes += ix.fileSize
	}
	s.opts.Metrics.Gauge(MetricRuns, float64(len(s.indexes)))
	s.opts.Metrics.Gauge(MetricChunks, float64(chunks))
	s.opts.Metrics.Gauge(MetricDiskBytes, float64(bytes))
	s.opts.Metrics.Gauge(MetricSnapshots, float64(len(s.manifests)))
}

// maybeCompactLocked starts a background compaction of m if its deltas are large enough.
func (s *Store) maybeCompactLocked(m *manifest) {
	if s.opts.DisableAutoCompaction || len(m.Runs) < 2 || s.closed {
		return
	}
	base := s.indexes[m.Runs[0]].fileSize
	var deltas int64
	for _, r := range m.Runs[1:] {
		deltas += s.indexes[r].fileSize
	}
	if len(m.Runs)-1 <= s.opts.CompactMaxDeltas && float64(deltas) <= s.opts.CompactRatio*float64(base) {
		return
	}
	if !s.compactMu.TryLock() {
		return // one is running; the next publish will look again
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.compactMu.Unlock()
		if err := s.compact(m.ID); err != nil {
			s.opts.Logger.Warn().Err(err).Str("snapshot", m.ID).Msg("snapshot: background compaction failed")
		}
	}()
}

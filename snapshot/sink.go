package snapshot

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// sink receives one logical stream. Write feeds a pipe; a goroutine parses the stream as it
// arrives (in pieces of any size) and re-cuts it into a run file under a temporary name.
// Close publishes the run and the manifest; Cancel discards them.
type sink struct {
	s     *Store
	m     *manifest
	run   string // final run name; the run is written to run+".tmp"
	pw    *io.PipeWriter
	done  chan sinkResult
	start time.Time

	mu      sync.Mutex // guards the fields below; Write, Close and Cancel may race in theory
	written int64
	ended   bool
	err     error // result of the first Close or Cancel
}

type sinkResult struct {
	hdr StreamHeader
	ix  *runIndex
	err error
}

// ID returns the snapshot's ID. It implements raft.SnapshotSink.
func (k *sink) ID() string { return k.m.ID }

// Write accepts the next piece of the stream. A malformed stream fails the Write that
// delivers the bad bytes (or a later one).
func (k *sink) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ended {
		return 0, ErrClosed
	}
	n, err := k.pw.Write(p)
	k.written += int64(n)
	return n, err
}

// Close waits for the stream to be parsed and the run written, then publishes the snapshot.
// It returns ErrUnknownParent for a delta whose parent the store does not hold. A second
// Close (raft calls Close after FSMSnapshot.Persist has) returns the first one's result.
func (k *sink) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ended {
		return k.err
	}
	k.ended = true
	_ = k.pw.Close()
	res := <-k.done
	if res.err == nil {
		res.err = k.s.publish(k, res)
	}
	if res.err != nil {
		_ = k.s.fs.Remove(k.s.path(k.run + tmpSuffix))
		k.s.opts.Metrics.Counter(MetricErrorsTotal, 1)
		k.err = fmt.Errorf("snapshot %s: %w", k.m.ID, res.err)
		return k.err
	}
	k.s.opts.Metrics.Counter(MetricSnapshotsTotal, 1)
	k.s.opts.Metrics.Observe(MetricPersistSeconds, time.Since(k.start).Seconds())
	return nil
}

// Cancel discards the snapshot. It implements raft.SnapshotSink.
func (k *sink) Cancel() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ended {
		return nil
	}
	k.ended = true
	k.err = ErrCanceled
	_ = k.pw.CloseWithError(ErrCanceled)
	<-k.done
	_ = k.s.fs.Remove(k.s.path(k.run + tmpSuffix))
	k.s.opts.Metrics.Counter(MetricErrorsTotal, 1)
	return nil
}

// consume runs on its own goroutine: it parses the stream from pr into a temp run file.
func (k *sink) consume(pr *io.PipeReader) {
	res := k.receive(pr)
	if res.err != nil {
		// Unblock and fail the writer; drain nothing more.
		_ = pr.CloseWithError(res.err)
	}
	k.done <- res
}

func (k *sink) receive(pr *io.PipeReader) sinkResult {
	sr, err := NewStreamReader(pr)
	if err != nil {
		return sinkResult{err: err}
	}
	hdr := sr.Header()
	kind := byte(runKindBase)
	if hdr.Kind == KindDelta {
		kind = runKindDelta
	}
	w, err := newRunWriter(k.s.fs, k.s.path(k.run+tmpSuffix), k.run, kind, k.s.opts.ChunkSize, k.s.enc)
	if err != nil {
		return sinkResult{err: err}
	}
	for {
		key, val, tomb, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = w.add(tomb, key, val)
		}
		if err != nil {
			w.abort()
			return sinkResult{err: err}
		}
	}
	// Nothing may follow the trailer.
	extra := int64(sr.end - sr.pos)
	if n, err := io.Copy(io.Discard, pr); err != nil {
		w.abort()
		return sinkResult{err: err}
	} else {
		extra += n
	}
	if extra > 0 {
		w.abort()
		return sinkResult{err: fmt.Errorf("%w: %d bytes after the stream trailer", ErrCorrupt, extra)}
	}
	ix, err := w.finish()
	if err != nil {
		return sinkResult{err: err}
	}
	k.s.opts.Metrics.Counter(MetricBytesRawTotal, float64(ix.rawSize))
	k.s.opts.Metrics.Counter(MetricBytesCompTotal, float64(ix.fileSize))
	return sinkResult{hdr: hdr, ix: ix}
}

// publish makes the sink's snapshot visible: the run is renamed into place, then the
// manifest is written, then retention runs and compaction may start.
func (s *Store) publish(k *sink, res sinkResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	m := k.m
	m.SinkSize = k.written
	newRun := true
	if res.hdr.Kind == KindDelta {
		p := s.manifests[res.hdr.Parent]
		if p == nil {
			return fmt.Errorf("%w: %q", ErrUnknownParent, res.hdr.Parent)
		}
		m.Parent = p.ID
		m.Runs = append([]string(nil), p.Runs...)
		if res.ix.records == 0 {
			// An empty delta: the parent's state under a new ID.
			newRun = false
			m.DataSize, m.Records = p.DataSize, p.Records
		} else {
			m.Runs = append(m.Runs, k.run)
			m.DataSize, m.Records = -1, -1
		}
	} else {
		m.Runs = []string{k.run}
		m.DataSize, m.Records = res.ix.rawSize, res.ix.records
	}
	if newRun {
		if err := s.publishRunLocked(res.ix); err != nil {
			return err
		}
	} else {
		_ = s.fs.Remove(s.path(k.run + tmpSuffix))
	}
	if err := s.writeManifestLocked(m); err != nil {
		// The manifest may have been renamed into place before a failed directory fsync. Its
		// ID is new, so removing the name can only drop this unlisted snapshot: a NewStore
		// then does not list a snapshot whose Close failed (unless a crash undoes the
		// removal; the snapshot is whole either way). Its run is an orphan, reaped later.
		_ = s.fs.Remove(s.path(m.ID + manifestSuffix))
		_ = s.syncDir()
		return err
	}
	s.manifests[m.ID] = m
	if err := s.reapLocked(); err != nil {
		return err
	}
	if s.manifests[m.ID] != nil {
		s.maybeCompactLocked(m)
	}
	return nil
}

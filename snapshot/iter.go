package snapshot

import (
	"bytes"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// openRun is a run file opened for reading: its index and a file handle. Holding the handle
// pins the run: retention may unlink the name, but POSIX keeps the data until Close.
type openRun struct {
	ix *runIndex
	f  vfs.File
}

// chunkFetch is one chunk being read and decompressed ahead of the consumer.
type chunkFetch struct {
	raw  []byte
	err  error
	done chan struct{}
}

// chunkStream yields the decompressed chunks of one run in order, starting at chunk `from`.
// With ahead > 0 it reads and decompresses up to `ahead` chunks in parallel on background
// goroutines; with ahead == 0 it works synchronously (point reads).
type chunkStream struct {
	r      openRun
	next   int // next chunk index to hand out
	ahead  int
	verify bool // parse each chunk's records against its index entry (background mode)
	queue  chan *chunkFetch
	stop   chan struct{}
	wg     sync.WaitGroup
	comp   []byte
	raw    []byte
	closed bool
}

func newChunkStream(r openRun, from int, ahead int, verify bool) *chunkStream {
	cs := &chunkStream{r: r, next: from, ahead: ahead, verify: verify}
	if ahead > 0 && from < len(r.ix.chunks) {
		cs.queue = make(chan *chunkFetch, ahead)
		cs.stop = make(chan struct{})
		cs.wg.Add(1)
		go cs.dispatch(from)
	}
	return cs
}

// dispatch starts one decompression per chunk, at most `ahead` in flight, and queues them in
// order for the consumer.
func (cs *chunkStream) dispatch(from int) {
	defer cs.wg.Done()
	defer close(cs.queue)
	sem := make(chan struct{}, cs.ahead)
	for i := from; i < len(cs.r.ix.chunks); i++ {
		cf := &chunkFetch{done: make(chan struct{})}
		select {
		case sem <- struct{}{}:
		case <-cs.stop:
			return
		}
		cs.wg.Add(1)
		go func(i int) {
			defer cs.wg.Done()
			c := &cs.r.ix.chunks[i]
			var comp []byte
			cf.raw, comp, cf.err = readChunk(cs.r.ix, cs.r.f, i, getBuf(int(c.compLen)), getBuf(int(c.rawLen)))
			putBuf(comp)
			if cf.err == nil && cs.verify {
				cf.err = verifyChunk(cs.r.ix, i, cf.raw)
			}
			<-sem
			close(cf.done)
		}(i)
		select {
		case cs.queue <- cf:
		case <-cs.stop:
			return
		}
	}
}

// nextChunk returns the next decompressed chunk, or (nil, -1, nil) at the end of the run.
// The returned bytes stay valid until the next call.
func (cs *chunkStream) nextChunk() ([]byte, int, error) {
	if cs.next >= len(cs.r.ix.chunks) {
		return nil, -1, nil
	}
	i := cs.next
	cs.next++
	if cs.queue == nil {
		raw, comp, err := readChunk(cs.r.ix, cs.r.f, i, cs.comp, cs.raw)
		cs.comp = comp
		if err == nil {
			cs.raw = raw
		}
		return raw, i, err
	}
	if cs.raw != nil {
		putBuf(cs.raw) // the caller is done with the previous chunk
		cs.raw = nil
	}
	cf, ok := <-cs.queue
	if !ok {
		return nil, -1, fmt.Errorf("snapshot: internal: chunk queue closed early")
	}
	<-cf.done
	cs.raw = cf.raw
	return cf.raw, i, cf.err
}

func (cs *chunkStream) close() {
	if cs.closed {
		return
	}
	cs.closed = true
	if cs.stop != nil {
		close(cs.stop)
		// Drain so that the dispatcher can exit, then wait for in-flight reads.
		go func() {
			for range cs.queue {
			}
		}()
		cs.wg.Wait()
	}
}

// runIter walks the records of one run in key order.
type runIter struct {
	cs    *chunkStream
	raw   []byte
	chunk int
	pos   int
	recs  int64 // records seen in the current chunk

	key  []byte
	val  []byte
	tomb bool
	err  error
	done bool
}

// newRunIter positions an iterator at the first record with key >= start (nil: the first).
// A run with no key in [start, end) (end nil: no bound) reads nothing.
func newRunIter(r openRun, start, end []byte, ahead int) *runIter {
	from := 0
	if start != nil {
		// The first chunk whose last key is >= start.
		from = sort.Search(len(r.ix.chunks), func(i int) bool {
			return bytes.Compare(r.ix.chunks[i].last, start) >= 0
		})
	}
	if end != nil && from < len(r.ix.chunks) && bytes.Compare(r.ix.chunks[from].first, end) >= 0 {
		from = len(r.ix.chunks)
	}
	it := &runIter{cs: newChunkStream(r, from, ahead, false), chunk: -1}
	for it.next() {
		if start == nil || bytes.Compare(it.key, start) >= 0 {
			it.pushBack()
			break
		}
	}
	return it
}

// pushBack makes the next call to next return the current record again.
func (it *runIter) pushBack() { it.pos = -it.pos - 1 }

// next advances to the next record; it returns false at the end or on error (see err).
func (it *runIter) next() bool {
	if it.done {
		return false
	}
	if it.pos < 0 { // pushed back
		it.pos = -it.pos - 1
		return true
	}
	for it.raw == nil || it.pos >= len(it.raw) {
		if it.raw != nil {
			c := &it.cs.r.ix.chunks[it.chunk]
			if it.recs != c.records || !bytes.Equal(it.key, c.last) {
				return it.fail(fmt.Errorf("run %s: chunk %d: %w: %d records ending %q, index says %d ending %q",
					it.cs.r.ix.name, it.chunk, ErrCorrupt, it.recs, it.key, c.records, c.last))
			}
		}
		raw, i, err := it.cs.nextChunk()
		if err != nil {
			return it.fail(err)
		}
		if i < 0 {
			it.done = true
			it.cs.close()
			return false
		}
		it.raw, it.chunk, it.pos, it.recs = raw, i, 0, 0
	}
	k, v, tomb, next, err := parseRecord(it.raw, it.pos)
	if err != nil {
		return it.fail(fmt.Errorf("run %s: chunk %d: record %d: %w", it.cs.r.ix.name, it.chunk, it.recs, err))
	}
	c := &it.cs.r.ix.chunks[it.chunk]
	if it.recs == 0 && !bytes.Equal(k, c.first) || it.recs > 0 && bytes.Compare(k, it.key) <= 0 {
		return it.fail(fmt.Errorf("run %s: chunk %d: record %d: %w: key out of order", it.cs.r.ix.name, it.chunk, it.recs, ErrCorrupt))
	}
	if tomb && it.cs.r.ix.kind != runKindDelta {
		return it.fail(fmt.Errorf("run %s: chunk %d: %w: tombstone in a base run", it.cs.r.ix.name, it.chunk, ErrCorrupt))
	}
	it.key, it.val, it.tomb, it.pos = k, v, tomb, next
	it.recs++
	return true
}

func (it *runIter) fail(err error) bool {
	it.err = err
	it.done = true
	it.cs.close()
	return false
}

func (it *runIter) close() { it.cs.close() }

// mergeIter merges runs oldest (index 0, the base) to newest: for equal keys the newest run
// wins, and a winning tombstone hides the key.
type mergeIter struct {
	its   []*runIter
	live  []bool
	end   []byte // exclusive upper bound; nil = none
	key   []byte
	val   []byte
	err   error
	valid bool
}

func newMergeIter(runs []openRun, start, end []byte, ahead int) *mergeIter {
	m := &mergeIter{its: make([]*runIter, len(runs)), live: make([]bool, len(runs)), end: end}
	for i, r := range runs {
		m.its[i] = newRunIter(r, start, end, ahead)
		m.live[i] = m.its[i].next()
		if err := m.its[i].err; err != nil && m.err == nil {
			m.err = err
		}
	}
	return m
}

// next advances to the next live key; false at the end or on error.
func (m *mergeIter) next() bool {
	for m.err == nil {
		win := -1
		for i, it := range m.its {
			if !m.live[i] {
				continue
			}
			if win < 0 || bytes.Compare(it.key, m.its[win].key) <= 0 {
				win = i // ties go to the newer (later) run
			}
		}
		if win < 0 {
			return false
		}
		w := m.its[win]
		if m.end != nil && bytes.Compare(w.key, m.end) >= 0 {
			return false
		}
		m.key = append(m.key[:0], w.key...)
		tomb := w.tomb
		if !tomb {
			m.val = append(m.val[:0], w.val...)
		}
		for i, it := range m.its {
			if m.live[i] && bytes.Equal(it.key, m.key) {
				m.live[i] = it.next()
				if it.err != nil {
					m.err = it.err
				}
			}
		}
		if !tomb {
			return m.err == nil
		}
	}
	return false
}

func (m *mergeIter) close() {
	for _, it := range m.its {
		it.close()
	}
}

// readAhead is how many chunks a sequential scan decompresses in parallel.
func readAhead() int { return 2 * runtime.GOMAXPROCS(0) }

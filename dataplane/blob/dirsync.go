package blob

import "sync"

// dirSyncer group-commits the fsyncs of one directory. A Put that renamed its blob into the
// directory calls sync, which returns once an fsync of the directory that started after the
// call has finished, and that fsync's error: one fsync covers every rename made before it
// began, so concurrent Puts into one directory share it instead of each issuing its own.
//
// At most one fsync of the directory runs at a time. Callers arriving while one runs join the
// next round (there is at most one waiting round); the first of them leads it as soon as the
// running one ends, the others wait for its result. A round that fails fails every Put in it
// (after a failed fsync the state of the directory's entries is unknown: none of them may be
// acknowledged, and a later fsync's success says nothing about them).
type dirSyncer struct {
	mu      sync.Mutex
	running *syncRound // the fsync in progress, nil if none
	next    *syncRound // the round that starts when running ends; nil if nobody waits
}

type syncRound struct {
	done    chan struct{} // closed when the round's fsync has returned
	err     error         // its result; written before done is closed
	members int           // Puts in the round (guarded by dirSyncer.mu while the round waits)
}

// sync waits for an fsync (done by do) that starts after this call, and returns its error.
func (d *dirSyncer) sync(do func() error) error {
	d.mu.Lock()
	if d.running == nil {
		r := &syncRound{done: make(chan struct{}), members: 1}
		d.running = r
		d.mu.Unlock()
		return d.run(r, do)
	}
	if r := d.next; r != nil {
		r.members++
		d.mu.Unlock()
		<-r.done
		return r.err
	}
	r := &syncRound{done: make(chan struct{}), members: 1}
	d.next = r
	prev := d.running
	d.mu.Unlock()
	<-prev.done // prev's leader made r the running round before closing done
	return d.run(r, do)
}

// run does r's fsync, makes the waiting round (if any) the running one, and releases r's
// members.
func (d *dirSyncer) run(r *syncRound, do func() error) error {
	r.err = do()
	d.mu.Lock()
	d.running, d.next = d.next, nil
	d.mu.Unlock()
	close(r.done)
	return r.err
}

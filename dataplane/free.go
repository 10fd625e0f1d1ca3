package dataplane

import "context"

// freeQueueLen bounds Freed's backlog in batches (one per Apply or ApplyBatch); beyond it the
// blobs are left to the garbage collector.
const freeQueueLen = 4096

// freeBatch is one call of Freed, or a FlushFrees marker (done set, ids nil).
type freeBatch struct {
	ids  []string
	done chan struct{}
}

// Freed queues the deletion of this node's copies of blobs that an applied metadata event
// freed, and returns at once: it is the FSM's apply hook (fsm.Options.OnFreed), called on
// every replica, so every storage node deletes its own copies and no node deletes another's.
// When the queue is full the blobs are counted (nebulaio_data_delete_queue_full_total) and
// left to the garbage collector. A node that holds no data ignores it. See DESIGN.md, "Freed
// blobs", for why this is safe against log replay, snapshot installs and concurrent reads.
func (d *Plane) Freed(ids []string) {
	if !d.cfg.HoldsData || len(ids) == 0 {
		return
	}
	select {
	case d.freeq <- freeBatch{ids: ids}:
	default:
		d.m.Counter(MetricDeleteQueueFull, float64(len(ids)))
	}
}

// FlushFrees returns once the blobs queued by Freed before the call have been deleted, or
// when ctx ends or the data plane closes.
func (d *Plane) FlushFrees(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case d.freeq <- freeBatch{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stop:
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stop:
		return ErrClosed
	}
}

// freeWorker deletes the queued freed blobs; at Close it deletes what is queued and returns.
func (d *Plane) freeWorker() {
	for {
		select {
		case fb := <-d.freeq:
			d.free(fb)
		case <-d.stop:
			for {
				select {
				case fb := <-d.freeq:
					d.free(fb)
				default:
					return
				}
			}
		}
	}
}

func (d *Plane) free(fb freeBatch) {
	for _, id := range fb.ids {
		for _, sid := range blobIDs(id) { // an erasure-coded blob's shards
			if d.deleteLocal(sid) {
				d.m.Counter(MetricFreedDeleted, 1)
			}
		}
	}
	if fb.done != nil {
		close(fb.done)
	}
}

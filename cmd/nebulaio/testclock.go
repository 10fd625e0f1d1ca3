package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// testClockEnv names a test-only hook: when set, the node's S3 layer reads its wall clock
// (signature time checks, object and upload times, version IDs) from the system clock plus
// the offset written in the file it names, as a Go duration ("10m", "-1h"; empty or missing
// is 0), re-read every 100 ms. The fault suite (e2e/faults) writes the file to make one
// node's clock jump while it runs: a real clock step needs CAP_SYS_TIME and moves every
// process of the machine, and libfaketime cannot reach a Go binary (Go reads the clock
// through the vDSO, not libc). Raft, gossip and every timeout run on the monotonic clock,
// which a wall-clock step does not move either. Never set it in production.
const testClockEnv = "NEBULAIO_TEST_CLOCK_OFFSET_FILE"

// testClockPoll is how often the offset file is re-read.
const testClockPoll = 100 * time.Millisecond

// offsetClock is a wall clock offset from the system's by a duration read from a file.
type offsetClock struct {
	path   string
	offset atomic.Int64 // nanoseconds; written by refresh, read by Now
}

// Now is the system's wall clock plus the offset, without a monotonic reading (as a clock
// that was stepped: durations between its readings are wall-clock differences).
func (c *offsetClock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load())).Round(0)
}

// refresh reads the file; a missing or empty file is offset 0. On an error the offset is
// left as it was.
func (c *offsetClock) refresh() error {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		c.offset.Store(0)
		return nil
	}
	if err != nil {
		return err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		c.offset.Store(0)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", testClockEnv, c.path, err)
	}
	c.offset.Store(int64(d))
	return nil
}

// run refreshes the offset every testClockPoll until ctx ends, reporting each new error once.
func (c *offsetClock) run(ctx context.Context, report func(error)) {
	t := time.NewTicker(testClockPoll)
	defer t.Stop()
	var last string
	for {
		err := c.refresh()
		if err != nil && err.Error() != last {
			report(err)
		}
		last = ""
		if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

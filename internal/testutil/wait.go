// Package testutil holds the helpers that tests of several packages share. It is a normal
// package (Go shares no _test.go file across packages) that does not import "testing": its
// functions take the small TB interface, which *testing.T and *testing.B satisfy.
package testutil

import (
	"fmt"
	"time"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Polling intervals: the first check runs at once, then the wait doubles from minPoll up to
// maxPoll, so a condition that holds within milliseconds is seen within milliseconds and a
// slow one (an HTTP round trip, an election) is not polled in a tight loop.
const (
	minPoll = time.Millisecond
	maxPoll = 50 * time.Millisecond
)

// WaitFor polls cond until it returns nil and fails the test (Fatalf, so call it from the
// test's goroutine) if it has not within timeout, with what and cond's last error:
//
//	testutil.WaitFor(t, 10*time.Second, "three voters", func() error { ... })
//
// It is the way tests wait for something asynchronous: never a sleep as synchronisation.
func WaitFor(t TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("%s: not within %s: %v", what, timeout, err)
	}
}

// WaitUntil is WaitFor for a condition that has nothing to say when it does not hold.
func WaitUntil(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitFor(t, timeout, what, func() error {
		if !cond() {
			return errNotYet
		}
		return nil
	})
}

var errNotYet = fmt.Errorf("condition not met")

// Poll is WaitFor's loop for callers that handle the failure themselves: it returns nil once
// cond does, or cond's last error after timeout.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	wait := minPoll
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return err
		}
		time.Sleep(min(wait, time.Until(deadline)+time.Millisecond))
		wait = min(2*wait, maxPoll)
	}
}

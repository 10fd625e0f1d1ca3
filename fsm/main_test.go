package fsm

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine (raft's, the snapshot store's, a
// persist) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

package s3

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

// TestMain checks, after a successful run, that no goroutine outlives the tests. The check
// polls: the cluster test runs real nodes, and memberlist's last probe may run for up to a
// probe interval times its awareness multiplier after Shutdown.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		leaks := func() error {
			// As in engine: raft v1.8.0 leaves a goroutine blocked on a future queued at shutdown.
			return goleak.Find(goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error"),
				// The SDK's and net/http's idle keep-alive connections of the default transport.
				goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
				goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
		}
		if err := testutil.Poll(20*time.Second, leaks); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

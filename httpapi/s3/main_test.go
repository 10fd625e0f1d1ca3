package s3

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// As in engine: raft v1.8.0 leaves a goroutine blocked on a future queued at shutdown.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error"),
		// The SDK's and net/http's idle keep-alive connections of the default transport.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

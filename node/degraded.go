package node

import (
	"context"
	"errors"
	"net/http"

	"github.com/nebulaio/nebulaio/engine"
	s3api "github.com/nebulaio/nebulaio/httpapi/s3"
)

// Degraded reads (cluster.degraded_reads): a node that knows no leader — the minority side of
// a partition, or a cluster that lost its quorum — serves GET and HEAD requests (objects,
// listings, tags, attributes) from its own metadata as it is, which may miss writes made
// since it lost contact, and marks each such response with StaleHeader. Writes are not
// affected: their proposals still fail with 503 and Retry-After. Off by default: an S3 client
// expects a read to see every acknowledged write.

// StaleHeader marks a response served from local metadata without a leader's confirmation.
const StaleHeader = "X-Nebulaio-Stale"

type staleKey struct{}

// staleFlag is set by degradedBackend.Sync when it lets a read through without a barrier.
type staleFlag struct{ set bool }

// markStale wraps the S3 handler: GET and HEAD requests carry a staleFlag in their context,
// and a response whose read was let through stale gets StaleHeader. Without degraded reads
// it returns h unchanged.
func markStale(h http.Handler, enabled bool) http.Handler {
	if !enabled {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		f := &staleFlag{}
		h.ServeHTTP(&staleWriter{ResponseWriter: w, f: f}, r.WithContext(context.WithValue(r.Context(), staleKey{}, f)))
	})
}

// staleWriter adds StaleHeader before the status line when the flag is set.
type staleWriter struct {
	http.ResponseWriter
	f       *staleFlag
	written bool
}

func (w *staleWriter) WriteHeader(code int) {
	if !w.written {
		w.written = true
		if w.f.set {
			w.Header().Set(StaleHeader, "true")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *staleWriter) Write(p []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (the S3 handler sets deadlines).
func (w *staleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// degradedBackend lets the reads of GET and HEAD requests through without a barrier while no
// leader is known (or the barrier fails for want of one), flagging the response as stale.
type degradedBackend struct {
	s3api.Backend
	e *engine.Node
}

func (b degradedBackend) Sync(ctx context.Context) error {
	f, _ := ctx.Value(staleKey{}).(*staleFlag)
	if f == nil {
		return b.Backend.Sync(ctx)
	}
	if _, addr := b.e.Leader(); addr == "" {
		f.set = true
		return nil
	}
	err := b.Backend.Sync(ctx)
	if errors.Is(err, engine.ErrNoQuorum) && ctx.Err() == nil {
		f.set = true
		return nil
	}
	return err
}

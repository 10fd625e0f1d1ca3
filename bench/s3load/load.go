package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Bucket is the bucket every run writes to and reads from; it is created when missing.
const Bucket = "s3load"

// opTimeout bounds one operation; an operation that takes longer counts as an error.
const opTimeout = 60 * time.Second

// prefillObjects is how many objects of a size are written before the first scenario that
// reads that size; GETs pick among them at random.
func prefillObjects(size int64) int {
	return int(max(16, min(512, (16<<20)/size)))
}

// System is one S3 service under load: a name for the table, and the endpoints (host:port)
// its workers spread over, worker i using endpoint i mod len.
type System struct {
	Name      string
	Endpoints []string
	clients   []*minio.Client
	transport *http.Transport
	prefilled map[int64]bool
}

// ParseSystem reads NAME=host:port[,host:port...].
func ParseSystem(spec string) (*System, error) {
	name, eps, ok := strings.Cut(spec, "=")
	if !ok || name == "" || eps == "" {
		return nil, fmt.Errorf("s3load: -system %q: want NAME=host:port[,host:port...]", spec)
	}
	return &System{Name: name, Endpoints: strings.Split(eps, ","), prefilled: map[int64]bool{}}, nil
}

// Connect makes one minio-go client per endpoint, sharing one connection pool large enough
// for every worker to keep its connection, with retries off (a failure is counted, not hidden
// in a retry's latency), and creates Bucket, retrying until ctx ends (a cluster that has just
// become ready may still be settling its leader).
func (s *System) Connect(ctx context.Context, accessKey, secretKey string) error {
	tr, err := minio.DefaultTransport(false)
	if err != nil {
		return err
	}
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	s.transport = tr
	for _, ep := range s.Endpoints {
		c, err := minio.New(ep, &minio.Options{
			Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Transport: tr,
			Region: "us-east-1", MaxRetries: 1,
		})
		if err != nil {
			return fmt.Errorf("s3load: %s endpoint %s: %w", s.Name, ep, err)
		}
		s.clients = append(s.clients, c)
	}
	for {
		err := s.clients[0].MakeBucket(ctx, Bucket, minio.MakeBucketOptions{})
		if code := minio.ToErrorResponse(err).Code; err == nil || code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("s3load: %s: create bucket %s: %w", s.Name, Bucket, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Close drops the idle connections.
func (s *System) Close() {
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
}

func prefillKey(size int64, i int) string { return fmt.Sprintf("prefill/%s/%04d", formatSize(size), i) }

// Prefill writes the objects GETs of size read, once per System.
func (s *System) Prefill(ctx context.Context, size int64) error {
	if s.prefilled[size] {
		return nil
	}
	payload := randomPayload(size)
	n := prefillObjects(size)
	var next atomic.Int64
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			c := s.clients[w%len(s.clients)]
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if _, err := c.PutObject(ctx, Bucket, prefillKey(size, i), bytes.NewReader(payload), size, minio.PutObjectOptions{}); err != nil {
					errs <- fmt.Errorf("s3load: %s: prefill %s: %w", s.Name, prefillKey(size, i), err)
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range 8 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	s.prefilled[size] = first == nil
	return first
}

// randomPayload is incompressible, so that no system gains by compressing.
func randomPayload(size int64) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	return b
}

// RunOpts bounds one run of a scenario against one system.
type RunOpts struct {
	Warmup   time.Duration // operations run but are not counted for this long first
	Duration time.Duration // then counted for this long
	MaxOps   int64         // and at most this many counted operations (0: no bound)
	KeyTag   string        // unique per run, in the keys PUTs write
	// DuringRun, when set, is called once counting starts, with the time left; the run's
	// result is returned after it returns as well.
	DuringRun func(left time.Duration)
}

// Measured is what one run of a scenario against one system gave.
type Measured struct {
	Ops        int64   `json:"ops"`
	Bytes      int64   `json:"bytes"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	Latency    Hist    `json:"latency"`
}

// Run puts sc's load on s: sc.Workers goroutines issue operations back to back until the
// warm-up and the duration have passed or MaxOps operations were counted. Operations that start
// after the warm-up are counted (latency from request to the last byte of the response), over
// the time from the end of the warm-up to the last of them finishing.
func (s *System) Run(ctx context.Context, sc Scenario, o RunOpts) (Measured, error) {
	if sc.Reads() {
		if err := s.Prefill(ctx, sc.Size); err != nil {
			return Measured{}, err
		}
	}
	payload := randomPayload(sc.Size)
	nPrefill := prefillObjects(sc.Size)
	start := time.Now()
	countFrom, stopAt := start.Add(o.Warmup), start.Add(o.Warmup+o.Duration)
	var counted atomic.Int64
	per := make([]Measured, sc.Workers)
	var wg sync.WaitGroup
	for w := range sc.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.clients[w%len(s.clients)]
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(start.UnixNano())))
			m := &per[w]
			for seq := 0; ; seq++ {
				t0 := time.Now()
				if t0.After(stopAt) {
					return
				}
				count := !t0.Before(countFrom)
				if count && o.MaxOps > 0 && counted.Add(1) > o.MaxOps {
					return
				}
				var err error
				if sc.Op == "put" || (sc.Op == "mix" && rng.IntN(100) >= sc.GetPct) {
					err = put(ctx, c, fmt.Sprintf("%s/w%03d/%07d", o.KeyTag, w, seq), payload)
				} else {
					err = get(ctx, c, prefillKey(sc.Size, rng.IntN(nPrefill)), sc.Size)
				}
				if !count {
					continue
				}
				if err != nil {
					if m.Errors++; m.FirstError == "" {
						m.FirstError = err.Error()
					}
					continue
				}
				m.Latency.Add(time.Since(t0))
				m.Ops++
				m.Bytes += sc.Size
			}
		}()
	}
	if o.DuringRun != nil {
		if wait := time.Until(countFrom); wait > 0 {
			time.Sleep(wait) // the hook is timed against the run's clock: it starts with counting
		}
		o.DuringRun(time.Until(stopAt))
	}
	wg.Wait()
	var total Measured
	total.Seconds = time.Since(countFrom).Seconds()
	for _, m := range per {
		total.Ops += m.Ops
		total.Bytes += m.Bytes
		total.Errors += m.Errors
		if total.FirstError == "" {
			total.FirstError = m.FirstError
		}
		total.Latency.Merge(m.Latency)
	}
	return total, ctx.Err()
}

func put(ctx context.Context, c *minio.Client, key string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := c.PutObject(ctx, Bucket, key, bytes.NewReader(payload), int64(len(payload)), minio.PutObjectOptions{})
	return err
}

// errShortRead is returned when a GET delivers other than the object's size.
var errShortRead = errors.New("s3load: GET returned a different number of bytes than the object holds")

func get(ctx context.Context, c *minio.Client, key string, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	obj, err := c.GetObject(ctx, Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	n, err := io.Copy(io.Discard, obj)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%w: %s: %d of %d", errShortRead, key, n, size)
	}
	return nil
}

package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/dataplane"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/authlimit"
	"github.com/nebulaio/nebulaio/internal/sse"
	"github.com/nebulaio/nebulaio/internal/vfs"
	"github.com/nebulaio/nebulaio/transport"
)

const (
	testAK     = "NEBULATESTACCESSKEY1"
	testSK     = "nebula/test/secret/key/0123456789abcdef"
	testRegion = "us-east-1"
	// A second account, for ownership cases.
	testAK2 = "NEBULATESTACCESSKEY2"
	testSK2 = "nebula/test/secret/key/second"
)

// node is one single-voter NebulaIO node (engine + FSM + blob store + data plane, a cluster of
// one, wired as the server wires it) in dir, served by the S3 handler on an httptest server
// over real TCP on 127.0.0.1.
type node struct {
	t       *testing.T
	dir     string
	trans   *transport.Transport
	eng     *engine.Node
	fsm     *fsm.FSM
	blobs   *blob.Store
	data    *dataplane.Plane
	backend Backend
	metrics *countingMetrics
	srv     *httptest.Server // plain HTTP
	tlsSrv  *httptest.Server // the same handler over TLS (the SDK streams aws-chunked only over TLS)
	opts    nodeOpts
}

type nodeOpts struct {
	domain      string
	minPartSize uint64
	region      string // default testRegion
	strict      bool   // Options.StrictRegion
	noSigV2     bool   // Options.DisableSigV2
	// lifecycleDay is Options.LifecycleDay (0: 24 hours).
	lifecycleDay time.Duration
	// wrap lets a test interpose on the backend (fault injection).
	wrap func(Backend) Backend
	// fs is the file system of the blob store and the raft stores (default the OS's);
	// minFree the data plane's free-space reserve (dataplane.Config.MinFreeBytes).
	fs      vfs.FS
	minFree int64
	// keyring is Options.Keyring (SSE-S3); sseCOverHTTP Options.AllowSSECOverHTTP.
	keyring      *sse.Keyring
	sseCOverHTTP bool
	// authLimit is Options.AuthLimit.
	authLimit authlimit.Config
	// log, if set, receives the handler's log at debug level.
	log io.Writer
	// inline is Options.InlineObjectSize (0: off); inlineGate Options.InlineAllowed.
	inline     int64
	inlineGate func() bool
}

func startNode(t *testing.T, dir string, o nodeOpts) *node {
	t.Helper()
	n := &node{t: t, dir: dir, opts: o}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	t := n.t
	t.Helper()
	trans, err := transport.New(transport.Config{BindAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	n.trans = trans
	n.blobs, err = blob.Open(filepath.Join(n.dir, "blobs"), blob.Options{FS: n.opts.fs})
	if err != nil {
		t.Fatal(err)
	}
	n.data = dataplane.New(dataplane.Config{Local: n.blobs, Transport: trans, Self: "s3-node", HoldsData: true,
		MinFreeBytes: n.opts.minFree, Logger: zerolog.Nop()})
	n.fsm = fsm.New(fsm.Options{OnFreed: n.data.Freed})
	n.eng, err = engine.Open(engine.Config{
		NodeID: "s3-node", Dir: filepath.Join(n.dir, "raft"), Transport: trans, FSM: n.fsm,
		Results: fsm.ResultCodec{}, Bootstrap: true, ElectionTimeout: 300 * time.Millisecond,
		HeartbeatTimeout: 300 * time.Millisecond, Logger: zerolog.Nop(), FS: n.opts.fs,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := n.eng.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	n.backend = NewBackend(n.eng, n.fsm, n.data)
	if n.opts.wrap != nil {
		n.backend = n.opts.wrap(n.backend)
	}
	n.metrics = newCountingMetrics()
	region := n.opts.region
	if region == "" {
		region = testRegion
	}
	logger := zerolog.Nop()
	if n.opts.log != nil {
		logger = zerolog.New(n.opts.log).Level(zerolog.DebugLevel)
	}
	h := NewHandler(Options{
		Keys: testKeys, AuthLimit: n.opts.authLimit,
		Backend: n.backend, Credentials: []Credentials{{AccessKey: testAK, SecretKey: testSK}, {AccessKey: testAK2, SecretKey: testSK2}},
		Region: region, Domain: n.opts.domain, Logger: logger, Metrics: n.metrics,
		MinPartSize: n.opts.minPartSize, StrictRegion: n.opts.strict, DisableSigV2: n.opts.noSigV2,
		LifecycleDay: n.opts.lifecycleDay, Keyring: n.opts.keyring, AllowSSECOverHTTP: n.opts.sseCOverHTTP,
		InlineObjectSize: n.opts.inline, InlineAllowed: n.opts.inlineGate,
	})
	n.srv = httptest.NewServer(h)
	n.tlsSrv = httptest.NewTLSServer(h)
}

func (n *node) stop() {
	if n.srv == nil {
		return
	}
	n.srv.Close()
	n.tlsSrv.Close()
	_ = n.eng.Close()
	_ = n.trans.Close()
	n.data.Close()
	_ = n.blobs.Close()
	n.srv = nil
}

func (n *node) restart() {
	n.stop()
	n.start()
}

func (n *node) client() *s3.Client {
	return sdkClient(n.srv.URL, testSK, &http.Client{Timeout: 2 * time.Minute})
}

// tlsClient talks to the TLS listener: there the SDK sends bodies it cannot seek as
// aws-chunked with a trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
func (n *node) tlsClient() *s3.Client {
	hc := n.tlsSrv.Client()
	hc.Timeout = 2 * time.Minute
	return sdkClient(n.tlsSrv.URL, testSK, hc)
}

func sdkClient(endpoint, secret string, hc *http.Client) *s3.Client {
	ak := testAK
	if secret == testSK2 {
		ak = testAK2
	}
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(ak, secret, ""),
		HTTPClient:  hc,
		// What config.LoadDefaultConfig sets: a CRC32 checksum on every upload, validation of
		// returned checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		BaseEndpoint:               aws.String(endpoint),
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.Retryer = aws.NopRetryer{}
	})
}

// apiCode returns the S3 error code of an SDK error ("" if none).
func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of an SDK error (0 if none).
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s (%d)", code, status)
	}
	if got := apiCode(err); got != code && code != "" {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	if got := httpStatus(err); status != 0 && got != status {
		t.Fatalf("error %v: status %d, want %d", err, got, status)
	}
}

func randBytes(n int, seed uint64) []byte {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustCreateBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(ctxT(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
}

func mustPut(t *testing.T, c *s3.Client, bucket, key string, data []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
	return out
}

func mustGet(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %s/%s: read: %v", bucket, key, err)
	}
	return b
}

// countingMetrics is a Metrics that panics on a name not in MetricDescs (as the Prometheus
// adapter does) and counts what it receives.
type countingMetrics struct {
	mu     sync.Mutex
	known  map[string]string
	counts map[string]float64
	obs    map[string]int
}

func newCountingMetrics() *countingMetrics {
	m := &countingMetrics{known: map[string]string{}, counts: map[string]float64{}, obs: map[string]int{}}
	for _, d := range MetricDescs {
		m.known[d.Name] = d.Kind
	}
	return m
}

func (m *countingMetrics) check(name, kind string) {
	if m.known[name] != kind {
		panic("s3 test: metric " + name + " is not declared as a " + kind)
	}
}

func (m *countingMetrics) Counter(name string, d float64) {
	m.check(name, "counter")
	m.mu.Lock()
	m.counts[name] += d
	m.mu.Unlock()
}

func (m *countingMetrics) Gauge(name string, v float64) {
	m.check(name, "gauge")
	m.mu.Lock()
	m.counts[name] = v
	m.mu.Unlock()
}

func (m *countingMetrics) Observe(name string, v float64) {
	m.check(name, "histogram")
	m.mu.Lock()
	m.obs[name]++
	m.mu.Unlock()
}

func (m *countingMetrics) get(name string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[name]
}

// blobCount returns the number of blobs in the node's store, once the deletions of the blobs
// freed by the events applied so far are done.
func (n *node) blobCount() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.data.FlushFrees(ctx); err != nil {
		n.t.Fatal(err)
	}
	c := 0
	if err := n.blobs.List(func(blob.Entry) error { c++; return nil }); err != nil {
		n.t.Fatal(err)
	}
	return c
}

// maintenance is the node's background work as the server wires it, with the garbage
// collector's grace period and the upload expiry's age given.
func (n *node) maintenance(gcGrace, uploadMaxAge time.Duration) dataplane.Maintenance {
	return dataplane.Maintenance{Meta: n.fsm, Barrier: n.backend.Sync, IsLeader: n.eng.IsLeader, Proposer: n.backend,
		GCGrace: gcGrace, UploadMaxAge: uploadMaxAge}
}

func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type netConn = net.Conn

var dialer net.Dialer

package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nebulaio/nebulaio/internal/sse"
	"github.com/nebulaio/nebulaio/internal/testutil"
)

// TestServerHTTPSReloadAndSSE runs the real server with TLS on the S3 and admin listeners and
// an SSE-S3 master key from the environment: S3 clients (the Go SDK, and the aws CLI with a
// CA bundle when it is installed) store and read SSE-S3 and SSE-C objects over HTTPS; the
// certificates are replaced and SIGHUP sent five times while a client loop runs, without one
// failed request, and new handshakes get the new certificates.
func TestServerHTTPSReloadAndSSE(t *testing.T) {
	const ak, sk = "NEBULAHTTPSTESTKEY01", "https-test-secret-key-0123456789"
	dir := t.TempDir()
	ca := testutil.NewTestCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s3Cert, s3Key := filepath.Join(dir, "s3.crt"), filepath.Join(dir, "s3.key")
	adminCert, adminKey := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	ca.Issue(t, "s3-0", s3Cert, s3Key)
	ca.Issue(t, "admin-0", adminCert, adminKey)

	cmd := command(t, "server", "--admin.address=127.0.0.1:0", "--s3.address=127.0.0.1:0", "--cluster.raft_address=127.0.0.1:0",
		"--cluster.gossip_address=127.0.0.1:0", "--console.address=127.0.0.1:0", "--log.format=json", "--data_dir="+filepath.Join(dir, "data"),
		"--s3.tls_cert_file="+s3Cert, "--s3.tls_key_file="+s3Key, "--admin.tls_cert_file="+adminCert, "--admin.tls_key_file="+adminKey)
	cmd.Env = append(cmd.Env, "NEBULAIO_MASTER_KEY="+sse.GenerateKey(), "NEBULAIO_ACCESS_KEY="+ak, "NEBULAIO_SECRET_KEY="+sk)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	banner := readBanner(t, stdout)
	s3m := regexp.MustCompile(`S3:\s+https://(\S+)`).FindStringSubmatch(banner)
	adm := regexp.MustCompile(`Admin:\s+https://(\S+)`).FindStringSubmatch(banner)
	if s3m == nil || adm == nil {
		t.Fatalf("the banner does not show https listeners:\n%s", banner)
	}
	s3URL, adminURL := "https://"+s3m[1], "https://"+adm[1]
	pool := ca.Pool()
	newHTTP := func(keepAlive bool) *http.Client {
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: !keepAlive}}
	}
	testutil.WaitFor(t, 20*time.Second, "/health/ready over HTTPS", func() error {
		resp, err := newHTTP(false).Get(adminURL + "/health/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	// The console serves HTTPS with the admin listener's certificate (logging in sends the
	// admin token).
	con := regexp.MustCompile(`Console:\s+https://(\S+)`).FindStringSubmatch(banner)
	if con == nil {
		t.Fatalf("the banner does not show an https console:\n%s", banner)
	}
	if resp, err := newHTTP(false).Get("https://" + con[1] + "/up"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the console's /up over HTTPS: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Plain HTTP on the S3 port gets net/http's "HTTP request to an HTTPS server" 400.
	if resp, err := http.Get("http://" + s3m[1] + "/"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "HTTPS server") {
			t.Fatalf("plain HTTP on the S3 port: %d %s", resp.StatusCode, b)
		}
	}

	client := func(keepAlive bool) *s3.Client {
		return s3.New(s3.Options{BaseEndpoint: aws.String(s3URL), Region: "us-east-1", UsePathStyle: true,
			Credentials: awscreds.NewStaticCredentialsProvider(ak, sk, ""), HTTPClient: newHTTP(keepAlive), Retryer: aws.NopRetryer{}})
	}
	c := client(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("tls")}); err != nil {
		t.Fatal(err)
	}
	ssecKey, ssecMD5 := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "" // bytes 0..31
	{
		k := make([]byte, 32)
		for i := range k {
			k[i] = byte(i)
		}
		ssecMD5 = md5b64(k)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tls"), Key: aws.String("ssec"), Body: strings.NewReader("customer secret"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(ssecKey), SSECustomerKeyMD5: aws.String(ssecMD5)}); err != nil {
		t.Fatalf("SSE-C PUT over HTTPS: %v", err)
	}
	if out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tls"), Key: aws.String("sses3"), Body: strings.NewReader("server secret"),
		ServerSideEncryption: types.ServerSideEncryptionAes256}); err != nil || out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("SSE-S3 PUT: %v", err)
	}

	// The client loop: an SDK on a kept-alive connection, an SDK on a new connection per
	// request, and the admin probe on new connections.
	var stop atomic.Bool
	var requests, failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	loop := func(do func() error) {
		defer wg.Done()
		for !stop.Load() {
			err := do()
			requests.Add(1)
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}
	}
	getSSEC := func(c *s3.Client) func() error {
		return func() error {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tls"), Key: aws.String("ssec"),
				SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(ssecKey), SSECustomerKeyMD5: aws.String(ssecMD5)})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			if b, err := io.ReadAll(out.Body); err != nil || string(b) != "customer secret" {
				return fmt.Errorf("SSE-C GET: %q, %v", b, err)
			}
			return nil
		}
	}
	adminProbe := newHTTP(false)
	wg.Add(3)
	go loop(getSSEC(c))
	go loop(getSSEC(client(false)))
	go loop(func() error {
		resp, err := adminProbe.Get(adminURL + "/health/live")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/health/live: %d", resp.StatusCode)
		}
		return nil
	})
	serial := func(addr string) *big.Int {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("TLS dial %s: %v", addr, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	for i := 1; i <= 5; i++ {
		before := requests.Load()
		s3Serial := ca.Issue(t, fmt.Sprintf("s3-%d", i), s3Cert, s3Key)
		adminSerial := ca.Issue(t, fmt.Sprintf("admin-%d", i), adminCert, adminKey)
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 20*time.Second, "the new certificates after SIGHUP", func() error {
			if got := serial(s3m[1]); got.Cmp(s3Serial) != 0 {
				return fmt.Errorf("S3 serves certificate %s, want %s", got, s3Serial)
			}
			if got := serial(adm[1]); got.Cmp(adminSerial) != 0 {
				return fmt.Errorf("admin serves certificate %s, want %s", got, adminSerial)
			}
			return nil
		})
		testutil.WaitFor(t, 20*time.Second, "requests after the reload", func() error {
			if n := requests.Load() - before; n < 10 {
				return fmt.Errorf("%d requests", n)
			}
			return nil
		})
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d of %d requests failed across the reloads; first: %v", failures.Load(), requests.Load(), firstErr.Load())
	}
	t.Logf("%d requests across 5 certificate reloads, none failed", requests.Load())
	if n := strings.Count(stderr.String(), "TLS certificate reloaded"); n != 10 {
		t.Fatalf("%d reload log lines, want 10 (2 listeners × 5 reloads)", n)
	}

	resp, err := newHTTP(false).Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, re := range []string{`(?m)^nebulaio_tls_reloads_total 10$`, `(?m)^nebulaio_tls_reload_failures_total 0$`,
		`(?m)^nebulaio_tls_s3_certificate_expiry_timestamp_seconds [1-9]`, `(?m)^nebulaio_tls_admin_certificate_expiry_timestamp_seconds [1-9]`} {
		if !regexp.MustCompile(re).Match(metricsText) {
			t.Errorf("/metrics does not match %s", re)
		}
	}

	awsCLI(t, dir, caFile, s3URL, ak, sk)

	// The admin CLI verifies the admin listener with --cacert, and refuses it without.
	out, err := command(t, "cluster", "--admin", adminURL, "--cacert", caFile, "--data_dir", filepath.Join(dir, "data"), "health").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "leader") {
		t.Fatalf("nebulaio cluster health over HTTPS with --cacert: %v\n%s", err, out)
	}
	out, err = command(t, "cluster", "--admin", adminURL, "--data_dir", filepath.Join(dir, "data"), "health").CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "certificate") {
		t.Fatalf("nebulaio cluster health without the CA: %v\n%s", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); exitCode(err) != 0 {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	for _, secret := range []string{sk, ssecKey} {
		if strings.Contains(stderr.String(), secret) {
			t.Fatal("the log holds a secret")
		}
	}
}

// awsCLI drives the aws CLI against the HTTPS endpoint with the CA bundle: SSE-S3 and SSE-C
// uploads and downloads, head-object headers, bucket default encryption, and a refusal
// without the CA bundle (the certificate is really verified). Without the CLI it logs so.
func awsCLI(t *testing.T, dir, caFile, endpoint, ak, sk string) {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Log("aws CLI not installed: the CLI part of the HTTPS test did not run")
		return
	}
	cfgFile := filepath.Join(dir, "aws-config")
	if err := os.WriteFile(cfgFile, []byte("[default]\ns3 =\n    addressing_style = path\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+cfgFile, "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	run := func(wantOK bool, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("aws %s: err %v, want ok=%v:\n%s", strings.Join(args, " "), err, wantOK, out)
		}
		return string(out)
	}
	tlsArgs := []string{"--endpoint-url", endpoint, "--ca-bundle", caFile}
	aws := func(wantOK bool, args ...string) string { return run(wantOK, append(tlsArgs, args...)...) }

	src := filepath.Join(dir, "cli-src")
	content := bytes.Repeat([]byte("aws cli over https; "), 10000)
	if err := os.WriteFile(src, content, 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "0123456789abcdef0123456789abcdef" // 32 bytes, as the CLI takes --sse-c-key
	if out := run(false, "--endpoint-url", endpoint, "s3", "ls"); !strings.Contains(strings.ToLower(out), "certificate") {
		t.Fatalf("without the CA bundle the CLI should fail certificate verification:\n%s", out)
	}
	aws(true, "s3", "cp", src, "s3://tls/cli-sse-s3", "--sse", "AES256")
	aws(true, "s3", "cp", src, "s3://tls/cli-sse-c", "--sse-c", "AES256", "--sse-c-key", key)
	if out := aws(true, "s3api", "head-object", "--bucket", "tls", "--key", "cli-sse-s3"); !strings.Contains(out, `"ServerSideEncryption": "AES256"`) {
		t.Fatalf("head-object of an SSE-S3 object:\n%s", out)
	}
	if out := aws(false, "s3api", "head-object", "--bucket", "tls", "--key", "cli-sse-c"); !strings.Contains(out, "400") {
		t.Fatalf("head-object of an SSE-C object without the key:\n%s", out)
	}
	if out := aws(true, "s3api", "head-object", "--bucket", "tls", "--key", "cli-sse-c", "--sse-customer-algorithm", "AES256", "--sse-customer-key", key); !strings.Contains(out, `"SSECustomerAlgorithm": "AES256"`) {
		t.Fatalf("head-object of an SSE-C object with the key:\n%s", out)
	}
	for name, extra := range map[string][]string{"cli-sse-s3": nil, "cli-sse-c": {"--sse-c", "AES256", "--sse-c-key", key}} {
		dst := filepath.Join(dir, name+".out")
		aws(true, append([]string{"s3", "cp", "s3://tls/" + name, dst}, extra...)...)
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%s read back through the CLI differs (%v)", name, err)
		}
	}
	// A copy of the SSE-C object to SSE-S3 with the copy-source key.
	aws(true, "s3", "cp", "s3://tls/cli-sse-c", "s3://tls/cli-copied", "--sse-c-copy-source", "AES256", "--sse-c-copy-source-key", key, "--sse", "AES256")
	if out := aws(true, "s3api", "head-object", "--bucket", "tls", "--key", "cli-copied"); !strings.Contains(out, `"ServerSideEncryption": "AES256"`) {
		t.Fatalf("head-object of the copy:\n%s", out)
	}
	aws(true, "s3api", "put-bucket-encryption", "--bucket", "tls", "--server-side-encryption-configuration",
		`{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}`)
	if out := aws(true, "s3api", "get-bucket-encryption", "--bucket", "tls"); !strings.Contains(out, `"SSEAlgorithm": "AES256"`) {
		t.Fatalf("get-bucket-encryption:\n%s", out)
	}
	if out := aws(false, "s3api", "put-bucket-encryption", "--bucket", "tls", "--server-side-encryption-configuration",
		`{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"}}]}`); !strings.Contains(out, "NotImplemented") {
		t.Fatalf("an SSE-KMS default is refused with NotImplemented:\n%s", out)
	}
	aws(true, "s3", "cp", src, "s3://tls/cli-default")
	if out := aws(true, "s3api", "head-object", "--bucket", "tls", "--key", "cli-default"); !strings.Contains(out, `"ServerSideEncryption": "AES256"`) {
		t.Fatalf("an upload under the bucket default:\n%s", out)
	}
	aws(true, "s3api", "delete-bucket-encryption", "--bucket", "tls")
}

func md5b64(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// syncBuffer is a bytes.Buffer safe for the child's stderr writer and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

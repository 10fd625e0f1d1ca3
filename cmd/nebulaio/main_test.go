package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/node"
)

// TestMain lets a test run the real command as a child process: with NEBULAIO_TEST_MAIN set, the
// test binary behaves as `nebulaio`.
func TestMain(m *testing.M) {
	if os.Getenv("NEBULAIO_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "NEBULAIO_TEST_MAIN=1")
	cmd.Dir = t.TempDir()
	return cmd
}

func TestUnknownKeyExitsNonZeroNamingIt(t *testing.T) {
	cmd := command(t, "server", "--config", "f.yaml")
	if err := os.WriteFile(filepath.Join(cmd.Dir, "f.yaml"), []byte("node_id: n1\nclustr:\n  bootstrap: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 2 {
		t.Fatalf("exit code %d, want 2; output:\n%s", code, out)
	}
	if !strings.Contains(string(out), "clustr (line 2): unknown key") {
		t.Fatalf("output does not name clustr and its line:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(cmd.Dir, "data")); !os.IsNotExist(err) {
		t.Fatalf("data directory created although the configuration was invalid (stat: %v)", err)
	}
}

func TestBadFlagAndBadCombination(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"server", "--cluster.expect_nodes=x"}, "cluster.expect_nodes"},
		{[]string{"server", "--cluster.bootstrap=false"}, "cluster.join_addresses"},
		{[]string{"server", "--cluster.node_role=archive"}, "cluster.node_role"},
		{[]string{"bogus"}, "unknown command"},
	} {
		out, err := command(t, tc.args...).CombinedOutput()
		if code := exitCode(err); code != 2 {
			t.Errorf("%v: exit code %d, want 2", tc.args, code)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: output does not mention %q:\n%s", tc.args, tc.want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := command(t, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "nebulaio ") {
		t.Fatalf("version: %q, %v", out, err)
	}
}

// TestServerServesProbesAndStopsCleanly starts the real server on OS-chosen ports, checks the
// probes and /metrics, sends SIGTERM and expects exit code 0; a second start keeps the
// generated credentials.
func TestServerServesProbesAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	var firstKey, firstCluster string
	for round := 0; round < 2; round++ {
		cmd := command(t, "server", "--admin.address=127.0.0.1:0", "--console.address=127.0.0.1:0", "--s3.address=127.0.0.1:0", "--cluster.raft_address=127.0.0.1:0", "--cluster.gossip_address=127.0.0.1:0", "--log.format=json", "--data_dir="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		banner := readBanner(t, stdout)
		admin := regexp.MustCompile(`Admin:\s+http://(\S+)`).FindStringSubmatch(banner)
		key := regexp.MustCompile(`AccessKey:\s+(\S+)`).FindStringSubmatch(banner)
		secret := regexp.MustCompile(`SecretKey:\s+(\S+)`).FindStringSubmatch(banner)
		s3addr := regexp.MustCompile(`S3:\s+http://(\S+)`).FindStringSubmatch(banner)
		if admin == nil || key == nil || secret == nil || s3addr == nil {
			t.Fatalf("banner lacks the admin address or the access key:\n%s", banner)
		}
		stored, err := node.ReadCredentials(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(banner, "IAM master key: (derived from the cluster secret)") {
			t.Fatalf("the banner does not say where the iam master key comes from:\n%s", banner)
		}
		if round == 0 {
			firstKey = key[1]
			if secret[1] != stored.SecretKey || !strings.Contains(banner, stored.AdminToken) {
				t.Fatalf("the first start's banner does not show the generated secrets:\n%s", banner)
			}
		} else {
			if key[1] != firstKey {
				t.Fatalf("restart generated new credentials: %s, first start had %s", key[1], firstKey)
			}
			// Afterwards only their origin.
			for _, s := range []string{stored.SecretKey, stored.AdminToken} {
				if strings.Contains(banner, s) {
					t.Fatalf("a restart's banner shows a stored secret:\n%s", banner)
				}
			}
			secret[1] = stored.SecretKey
		}
		// The cluster identity: created on the first start, which shows the join token once;
		// the same cluster after the restart, and the token never again.
		cluster := regexp.MustCompile(`Cluster:\s+([0-9a-f]{16})\s`).FindStringSubmatch(banner)
		token := regexp.MustCompile(`JoinToken:\s+(nbio1\.([0-9a-f]{16})\.\S+)`).FindStringSubmatch(banner)
		switch {
		case cluster == nil:
			t.Fatalf("banner lacks the cluster ID:\n%s", banner)
		case round == 0 && (token == nil || token[2] != cluster[1]):
			t.Fatalf("first start's banner lacks the join token of cluster %s:\n%s", cluster[1], banner)
		case round == 1 && (token != nil || strings.Contains(banner, "nbio1.")):
			t.Fatalf("a restart printed the join token again:\n%s", banner)
		case round == 1 && cluster[1] != firstCluster:
			t.Fatalf("restart changed the cluster ID from %s to %s", firstCluster, cluster[1])
		}
		firstCluster = cluster[1]
		base := "http://" + admin[1]
		if code, _ := get(t, base+"/health/live"); code != http.StatusOK {
			t.Fatalf("/health/live: status %d", code)
		}
		// Ready once the single node has elected itself leader.
		testutil.WaitFor(t, 15*time.Second, "/health/ready", func() error {
			if code, body := get(t, base+"/health/ready"); code != http.StatusOK {
				return fmt.Errorf("status %d: %s", code, body)
			}
			return nil
		})
		_, body := get(t, base+"/metrics")
		for _, name := range []string{"go_goroutines", "nebulaio_raft_state", "nebulaio_raft_peers", "nebulaio_raft_commit_latency", "nebulaio_wal_", "nebulaio_fsm_"} {
			if !strings.Contains(body, name) {
				t.Fatalf("/metrics lacks %s", name)
			}
		}
		// S3: the first run writes an object, the second (a restart on the same data) reads it.
		client := s3.New(s3.Options{
			BaseEndpoint: aws.String("http://" + s3addr[1]), Region: "us-east-1", UsePathStyle: true,
			Credentials: awscreds.NewStaticCredentialsProvider(key[1], secret[1], ""),
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if round == 0 {
			if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("restart")}); err != nil {
				t.Fatalf("CreateBucket: %v", err)
			}
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restart"), Key: aws.String("k"), Body: strings.NewReader("survives")}); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
		} else {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("restart"), Key: aws.String("k")})
			if err != nil {
				t.Fatalf("GetObject after restart: %v", err)
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) != "survives" {
				t.Fatalf("after restart the object reads %q", b)
			}
		}
		cancel()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if code := exitCode(err); code != 0 {
				t.Fatalf("exit code after SIGTERM = %d, want 0; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("server did not stop within 20s of SIGTERM")
		}
		for _, s := range []string{stored.SecretKey, stored.AdminToken} {
			if strings.Contains(stderr.String(), s) {
				t.Fatal("the log holds a secret")
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if !strings.Contains(line, `"node_id":"node-1"`) {
				t.Fatalf("log line without node_id: %s", line)
			}
		}
	}
	for _, f := range []string{node.CredentialsFile, trust.IdentityFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", f, err, st.Mode())
		}
	}
}

// readBanner reads stdout until the banner's last line, with a deadline.
func readBanner(t *testing.T, r io.Reader) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var b strings.Builder
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout closed before the banner was complete:\n%s", b.String())
			}
			b.WriteString(l + "\n")
			if strings.Contains(l, "Try: ") {
				go func() {
					for range lines {
					}
				}()
				return b.String()
			}
		case <-deadline:
			t.Fatalf("no banner within 20s:\n%s", b.String())
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestEveryHelpExitsZero: --help of the command, of each subcommand and of each cluster
// command prints the usage and exits 0 (issue 16: `nebulaio cluster --help` exited 2).
func TestEveryHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"-h"},
		{"server", "--help"}, {"server", "-h"},
		{"cluster", "--help"}, {"cluster", "-h"}, {"cluster", "help"},
		{"cluster", "nodes", "--help"}, {"cluster", "health", "--help"}, {"cluster", "promote", "--help"},
		{"cluster", "demote", "n1", "--help"}, {"cluster", "remove", "--help"}, {"cluster", "readmit", "--help"},
		{"cluster", "drain", "n2", "--wait", "--help"}, {"cluster", "transfer-leader", "--help"},
		{"cluster", "token", "--help"}, {"cluster", "new-token", "--help"},
		{"certs", "--help"}, {"certs", "-h"}, {"certs", "help"}, {"certs", "init", "--help"}, {"certs", "node", "-h"},
	} {
		var out, errOut strings.Builder
		if code := run(args, &out, &errOut); code != 0 || !strings.Contains(out.String()+errOut.String(), "usage") && !strings.Contains(errOut.String(), "-cluster.") {
			t.Errorf("nebulaio %v: exit %d, output %q %q; want 0 and the usage", args, code, out.String(), errOut.String())
		}
	}
	// Bad usage is still 2.
	for _, args := range [][]string{{"cluster"}, {"cluster", "drain"}, {"cluster", "nodes", "--force"}, {"cluster", "drain", "n2", "--wait", "--cancel"}} {
		var out, errOut strings.Builder
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("nebulaio %v: exit %d, want 2", args, code)
		}
	}
}

// TestSigtermWhileWaitingForExpectNodesExitsZero: a bootstrap node waiting for
// cluster.expect_nodes stops cleanly on SIGTERM, exit code 0 (issue 16: it exited 1).
func TestSigtermWhileWaitingForExpectNodesExitsZero(t *testing.T) {
	admin := testutil.FreeAddr(t, false)
	cmd := command(t, "server", "--admin.address="+admin, "--s3.address=127.0.0.1:0", "--cluster.raft_address=127.0.0.1:0",
		"--cluster.gossip_address=127.0.0.1:0", "--cluster.expect_nodes=3", "--log.format=json", "--data_dir="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()
	testutil.WaitFor(t, 20*time.Second, "the admin listener says starting", func() error {
		resp, err := http.Get("http://" + admin + "/health/ready")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "starting") {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if code := exitCode(err); code != 0 {
			t.Fatalf("exit code after SIGTERM while waiting for expect_nodes = %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop within 20s of SIGTERM")
	}
}

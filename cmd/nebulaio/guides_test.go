package main

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// The guides under docs/guides/ and docs/operations.md mark each shell block with the name of
// the step that runs it:
//
//	<!-- run: NAME -->                       run with bash -euo pipefail; must exit 0
//	<!-- run: NAME (in the background) -->   a server: started, stopped by the test
//	<!-- run-by: make TARGET -->             make commands that TARGET runs (make e2e, make faults):
//	                                         loading checks that TARGET and every `make X` in the
//	                                         block are targets of the Makefile
//
// Sample output goes in a ```text block (only sh, bash and shell blocks are commands).
//
// A guide test runs the blocks by name, in the guide's order, with `nebulaio` on PATH (this
// test binary) and the variables the guide documents, and checks what they did; done fails the
// test if a block was not run or a block has no marker, so a guide cannot gain a command that
// no test runs.

// guide is one guide's shell blocks.
type guide struct {
	t      *testing.T
	path   string
	blocks map[string]string
	bg     map[string]bool
	order  []string
	ran    map[string]bool
	dir    string   // the working directory of the blocks
	env    []string // added to the environment
	bin    string   // a directory holding the `nebulaio` wrapper
}

var (
	runMarker   = regexp.MustCompile(`^<!-- run: ([a-z0-9-]+)( \(in the background\))?.*-->$`)
	runByMarker = regexp.MustCompile(`^<!-- run-by: make ([a-z0-9-]+) -->$`)
	makeCommand = regexp.MustCompile(`(?m)^\s*make ([a-z0-9-]+)`)
)

// loadGuide loads docs/guides/NAME.
func loadGuide(t *testing.T, name string) *guide {
	t.Helper()
	return loadDoc(t, filepath.Join("guides", name))
}

// loadDoc loads a guide by its path under docs/.
func loadDoc(t *testing.T, name string) *guide {
	t.Helper()
	path := filepath.Join("..", "..", "docs", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := &guide{t: t, path: path, blocks: map[string]string{}, bg: map[string]bool{}, ran: map[string]bool{}, dir: t.TempDir()}
	lines := strings.Split(string(b), "\n")
	pending, runBy := "", ""
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i]) // a block in a list item is indented
		if m := runByMarker.FindStringSubmatch(l); m != nil {
			pending, runBy = "run-by "+m[1], m[1]
			continue
		}
		if m := runMarker.FindStringSubmatch(l); m != nil {
			pending = m[1]
			if _, dup := g.blocks[pending]; dup {
				t.Fatalf("%s:%d: block %q marked twice", path, i+1, pending)
			}
			g.bg[pending] = m[2] != ""
			continue
		}
		if strings.HasPrefix(l, "```sh") || strings.HasPrefix(l, "```bash") || strings.HasPrefix(l, "```shell") {
			if pending == "" {
				t.Fatalf("%s:%d: a shell block without a <!-- run: NAME --> marker: no test would run it", path, i+1)
			}
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, lines[i])
			}
			if runBy != "" {
				checkMakeTargets(t, path, runBy, strings.Join(body, "\n"))
				pending, runBy = "", ""
				continue
			}
			g.blocks[pending] = strings.Join(body, "\n") + "\n"
			g.order = append(g.order, pending)
			pending = ""
			continue
		}
		if pending != "" && strings.TrimSpace(l) != "" {
			t.Fatalf("%s:%d: the marker of %q is not followed by a shell block", path, i+1, pending)
		}
	}
	// `nebulaio` is this test binary, behaving as the command (TestMain).
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	g.bin = t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nNEBULAIO_TEST_MAIN=1 exec '%s' \"$@\"\n", exe)
	if err := os.WriteFile(filepath.Join(g.bin, "nebulaio"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			for _, name := range g.order {
				if !g.ran[name] {
					t.Errorf("%s: block %q was not run by the test", path, name)
				}
			}
		}
	})
	return g
}

// checkMakeTargets fails the test unless target and every `make X` in a run-by block are
// targets of the Makefile: a block run elsewhere cannot name a target that no longer exists.
func checkMakeTargets(t *testing.T, path, target, body string) {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{target}
	for _, m := range makeCommand.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	if len(names) == 1 {
		t.Fatalf("%s: the block run by make %s holds no make command", path, target)
	}
	for _, n := range names {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(n) + `:`).Match(mk) {
			t.Fatalf("%s: make %s: no such target in the Makefile", path, n)
		}
	}
}

// setenv sets a variable for the blocks run after it.
func (g *guide) setenv(k, v string) { g.env = append(g.env, k+"="+v) }

func (g *guide) command(name string) *exec.Cmd {
	g.t.Helper()
	body, ok := g.blocks[name]
	if !ok {
		g.t.Fatalf("%s: no block %q", g.path, name)
	}
	g.ran[name] = true
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", body)
	cmd.Dir = g.dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NEBULAIO_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, "PATH="+g.bin+string(os.PathListSeparator)+os.Getenv("PATH")), g.env...)
	return cmd
}

// run runs a block, with stdin, and returns its output; it fails the test unless the exit
// code is want.
func (g *guide) run(name, stdin string, want int) string {
	g.t.Helper()
	if g.bg[name] {
		g.t.Fatalf("%s: block %q runs in the background", g.path, name)
	}
	cmd := g.command(name)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != want {
		g.t.Fatalf("%s: block %q exited %d, want %d (%v):\n%s\n--- output:\n%s", g.path, name, code, want, err, g.blocks[name], out)
	}
	g.t.Logf("%s: %s:\n%s", filepath.Base(g.path), name, out)
	return string(out)
}

// server is a process started from a background block.
type server struct {
	t   *testing.T
	cmd *exec.Cmd
	log string
	end chan error
}

// start starts a background block (a server); the test stops it at the latest at cleanup.
func (g *guide) start(name string) *server {
	g.t.Helper()
	if !g.bg[name] {
		g.t.Fatalf("%s: block %q is not a background block", g.path, name)
	}
	return startServer(g.t, g.command(name), filepath.Join(g.dir, name+".log"))
}

func startServer(t *testing.T, cmd *exec.Cmd, logPath string) *server {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, log: logPath, end: make(chan error, 1)}
	go func() { s.end <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() { s.kill(syscall.SIGKILL) })
	return s
}

// kill signals the server's process group and waits for it to end.
func (s *server) kill(sig syscall.Signal) {
	if s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, sig)
	select {
	case <-s.end:
		s.end <- nil // for a later kill
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.t.Errorf("the server did not stop within 30s of %v", sig)
	}
}

// waitReady waits until the admin address answers /health/ready.
func (s *server) waitReady(admin string) {
	s.t.Helper()
	testutil.WaitFor(s.t, 60*time.Second, "the server at "+admin+" ready", func() error {
		select {
		case err := <-s.end:
			s.end <- err
			b, _ := os.ReadFile(s.log)
			s.t.Fatalf("the server exited (%v):\n%s", err, tail(b, 40))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/health/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return nil
	})
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// nodeConfig is the configuration file of a node run as a process on 127.0.0.1, with its
// admin and S3 addresses fixed so that the test can reach it.
type nodeConfig struct {
	path, data, s3, admin, raft string
}

// writeNodeConfig writes it (raft and gossip "" choose addresses); clusterKeys are more lines
// of the cluster section ("  key: value\n").
func writeNodeConfig(t *testing.T, dir, nodeID, data, raft, gossip string, clusterKeys string) nodeConfig {
	t.Helper()
	if gossip == "" {
		gossip = "127.0.0.1:0"
	}
	c := nodeConfig{path: filepath.Join(dir, nodeID+".yaml"), data: data, s3: testutil.FreeAddr(t, false), admin: testutil.FreeAddr(t, false), raft: raft}
	if c.raft == "" {
		c.raft = testutil.FreeAddr(t, false)
	}
	yaml := fmt.Sprintf(`node_id: %s
data_dir: %s
s3:
  address: %s
admin:
  address: %s
console:
  address: 127.0.0.1:0
cluster:
  raft_address: %s
  gossip_address: %s
  advertise_address: 127.0.0.1
%slog:
  format: json
`, nodeID, data, c.s3, c.admin, c.raft, gossip, clusterKeys)
	if err := os.WriteFile(c.path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func s3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + endpoint), Region: testcluster.Region, UsePathStyle: true,
		Credentials: awscreds.NewStaticCredentialsProvider(testcluster.AccessKey, testcluster.SecretKey, ""),
	})
}

func putN(t *testing.T, c *s3.Client, bucket string, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := from; i < from+n; i++ {
		key := fmt.Sprintf("k%04d", i)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("body of " + key)}); err != nil {
			t.Fatalf("PUT %s/%s: %v", bucket, key, err)
		}
	}
}

// checkN reads objects from..from+n back; missing says they must all be absent instead.
func checkN(t *testing.T, c *s3.Client, bucket string, from, n int, missing bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := from; i < from+n; i++ {
		key := fmt.Sprintf("k%04d", i)
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if missing {
			if err == nil {
				out.Body.Close()
				t.Fatalf("GET %s/%s: present, want absent", bucket, key)
			}
			continue
		}
		if err != nil {
			t.Fatalf("GET %s/%s: %v", bucket, key, err)
		}
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || string(b) != "body of "+key {
			t.Fatalf("GET %s/%s: %q, %v", bucket, key, b, err)
		}
	}
}

// guideEnv is the environment of a node process of a guide test: the test's credentials.
func guideEnv(g *guide) {
	g.setenv("NEBULAIO_ACCESS_KEY", testcluster.AccessKey)
	g.setenv("NEBULAIO_SECRET_KEY", testcluster.SecretKey)
	g.setenv("NEBULAIO_ADMIN_TOKEN", testcluster.AdminToken)
}

// TestGuideBackupAndRecovery runs docs/guides/backup-and-recovery.md. Backup and restore: a
// node (a process) holds 100 objects; the guide's blocks back up its metadata, verify the
// backup, copy and check its blobs; one more object is written, the node is killed and its
// data directory wiped; the guide restores into it and starts the node: the 100 objects read
// back, the later one is absent. Disaster recovery: a three-node cluster loses two nodes for
// good; the survivor, stopped, refuses the recovery without the typed confirmation, is
// recovered by the guide's command, and started by the guide as a process: it leads alone
// and serves every object.
func TestGuideBackupAndRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers")
	}
	g := loadGuide(t, "backup-and-recovery.md")
	guideEnv(g)
	cfg := writeNodeConfig(t, g.dir, "node-1", filepath.Join(g.dir, "data"), "", "", "")
	g.setenv("CONFIG", cfg.path)
	g.setenv("DATA", cfg.data)
	g.setenv("NEBULAIO_ADMIN_ADDRESS", "http://"+cfg.admin)

	first := startServer(t, g.command("start-restored"), filepath.Join(g.dir, "first.log"))
	g.ran["start-restored"] = false // the same command; the block itself runs after the restore
	first.waitReady(cfg.admin)
	client := s3Client(cfg.s3)
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("guide")}); err != nil {
		t.Fatal(err)
	}
	putN(t, client, "guide", 0, 100)
	oldID := clusterIDOf(t, cfg.data)
	oldIdentity, _, _ := trust.LoadIdentity(vfs.OS, cfg.data)
	oldSecret := oldIdentity.Secret
	// The leader records the cluster ID in replicated state soon after it is elected: wait
	// for it (with backups of a scratch file), so that the guide's backup names it.
	testutil.WaitFor(t, 30*time.Second, "the cluster ID in replicated state", func() error {
		scratch := filepath.Join(g.dir, "scratch.tar.gz")
		var o strings.Builder
		if code := run([]string{"backup", "create", "--admin", cfg.admin, "--token", testcluster.AdminToken, "--to", scratch}, &o, &o); code != 0 {
			return fmt.Errorf("exit %d: %s", code, o.String())
		}
		if !strings.Contains(o.String(), "cluster:   "+oldID) {
			return fmt.Errorf("not yet:\n%s", o.String())
		}
		return nil
	})

	out := g.run("backup-create", "", 0)
	if !strings.Contains(out, "backup written to nebulaio-backup.tar.gz") || !strings.Contains(out, "1 buckets, 100 objects") || !strings.Contains(out, "cluster:   "+oldID) {
		t.Fatalf("backup create:\n%s", out)
	}
	out = g.run("backup-verify", "", 0)
	for _, want := range []string{"nebulaio-backup.tar.gz: OK", "manifest.json", "metadata.snap", "blobs.jsonl", "SHA256SUMS"} {
		if !strings.Contains(out, want) {
			t.Fatalf("backup verify: no %q in\n%s", want, out)
		}
	}
	out = g.run("blob-copy", "", 0)
	if !strings.Contains(out, "100 checked, 100 intact") || !strings.Contains(out, "0 missing, 0 damaged") {
		t.Fatalf("blob check:\n%s", out)
	}
	putN(t, client, "guide", 100, 1) // after the backup: not in it

	// The disaster: the node and its data directory are gone.
	first.kill(syscall.SIGKILL)
	if err := os.RemoveAll(cfg.data); err != nil {
		t.Fatal(err)
	}
	out = g.run("restore", "", 0)
	if !strings.Contains(out, "100 checked, 100 intact") || !strings.Contains(out, "a new one-voter cluster of node-1 ("+cfg.raft+")") {
		t.Fatalf("restore:\n%s", out)
	}
	newID := clusterIDOf(t, cfg.data)
	if id, _, _ := trust.LoadIdentity(vfs.OS, cfg.data); !id.Secret.Equal(oldSecret) || strings.Contains(out, "note: the cluster has a new secret") {
		t.Fatalf("restore with the old token did not keep the cluster secret:\n%s", out)
	}
	if newID == oldID || !strings.Contains(out, "new cluster: "+newID+" (the backup's was "+oldID+")") || !strings.Contains(out, "nbio1."+newID+".") {
		t.Fatalf("restore: new cluster %s (the backup's %s):\n%s", newID, oldID, out)
	}
	restored := g.start("start-restored")
	restored.waitReady(cfg.admin)
	var health strings.Builder
	if code := runCluster([]string{"--admin", cfg.admin, "--token", testcluster.AdminToken, "health"}, &health, &health); code != 0 ||
		!strings.Contains(health.String(), `"cluster_id": "`+newID+`"`) {
		t.Fatalf("health of the restored node (exit %d), want cluster %s:\n%s", code, newID, health.String())
	}
	checkN(t, client, "guide", 0, 100, false)
	checkN(t, client, "guide", 100, 1, true)
	putN(t, client, "guide", 200, 1) // the restored cluster takes writes
	restored.kill(syscall.SIGTERM)

	// Disaster recovery: n1 and n2 of three are lost for good.
	raft3 := testutil.FreeAddr(t, false)
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		if i == 2 {
			cfg.Cluster.RaftAddress = raft3 // the recovered node keeps its address
		}
		cfg.Performance.MaxRaftLogEntries = 32 // a snapshot and a log after it
		// A copy a write's quorum left out is made at once (n3 must hold every blob).
		cfg.Cluster.RepairInterval = config.Duration(300 * time.Millisecond)
		cfg.Cluster.RepairMiBPerSec = 0
	}})
	c.WaitForLeader()
	c3 := s3Client(c.MustNode(2).S3Addr().String())
	if _, err := c3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("survive")}); err != nil {
		t.Fatal(err)
	}
	putN(t, c3, "survive", 0, 60)
	// n3 holds every entry and a copy of every blob file before the others are lost (the
	// small objects are inline: their bytes are in the entries).
	c.VerifyFSMs()
	stored := 0
	if err := c.MustNode(2).FSM().WalkBlobs(ctx, func(b fsm.BlobRef) error {
		if !b.Inline {
			stored++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	blobs3 := filepath.Join(c.Config(2).DataDir, "blobs", "blobs")
	testutil.WaitFor(t, 60*time.Second, "every blob on n3", func() error {
		if n := countFiles(blobs3); n < stored {
			return fmt.Errorf("%d of %d blobs", n, stored)
		}
		return nil
	})
	c.Kill(0)
	c.Kill(1)
	c.Stop(2) // step 1: stop the survivor

	cfg3 := writeNodeConfig(t, g.dir, "n3", c.Config(2).DataDir, raft3, "", "")
	g.setenv("CONFIG", cfg3.path)
	g.setenv("DATA", cfg3.data)
	out = g.run("recover", "n1\n", 1) // not confirmed: nothing changes
	if !strings.Contains(out, "DISASTER RECOVERY") || !strings.Contains(out, "nothing changed") {
		t.Fatalf("recover without confirmation:\n%s", out)
	}
	out = g.run("recover", "n3\n", 0)
	if !strings.Contains(out, "recovered: n3 ("+raft3+") is now the only voter (was: n1, n2, n3)") {
		t.Fatalf("recover:\n%s", out)
	}
	recovered := g.start("start-recovered")
	recovered.waitReady(cfg3.admin)
	health.Reset()
	if code := runCluster([]string{"--admin", cfg3.admin, "--token", testcluster.AdminToken, "health"}, &health, &health); code != 0 ||
		!strings.Contains(health.String(), `"quorum_size": 1`) || !strings.Contains(health.String(), `"leader_id": "n3"`) ||
		!strings.Contains(health.String(), `"cluster_id": "`+c.Token().ClusterID+`"`) {
		t.Fatalf("health after recovery (exit %d):\n%s", code, health.String())
	}
	rc := s3Client(cfg3.s3)
	checkN(t, rc, "survive", 0, 60, false)
	putN(t, rc, "survive", 60, 1)
	recovered.kill(syscall.SIGTERM)
}

// clusterIDOf is the cluster ID stored in a data directory's identity file.
func clusterIDOf(t *testing.T, dataDir string) string {
	t.Helper()
	id, ok, err := trust.LoadIdentity(vfs.OS, dataDir)
	if err != nil || !ok {
		t.Fatalf("identity of %s: %v (found %v)", dataDir, err, ok)
	}
	return id.ClusterID
}

func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestGuideStorage runs the inspect commands of docs/guides/storage.md on a stopped node's data
// directory (a snapshot, a log after it, blobs): each reports no damage. Then a blob file is
// damaged and `blob verify` exits 1 naming it.
func TestGuideStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	g := loadGuide(t, "storage.md")
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) {
		cfg.Performance.MaxRaftLogEntries = 32
		cfg.Performance.InlineObjectSize = 0 // blob verify reads blob files: the small objects must be some
	}})
	c.WaitForLeader()
	client := c.S3Client(0)
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("inspect")}); err != nil {
		t.Fatal(err)
	}
	putN(t, client, "inspect", 0, 50)
	c.Stop(0)
	data := c.Config(0).DataDir
	g.setenv("DATA", data)

	out := g.run("wal-inspect", "", 0)
	for _, want := range []string{"SEGMENT", ".wal", "0 damaged"} {
		if !strings.Contains(out, want) {
			t.Fatalf("wal inspect: no %q in\n%s", want, out)
		}
	}
	if out = g.run("wal-verify", "", 0); !strings.Contains(out, "0 damaged") {
		t.Fatalf("wal verify:\n%s", out)
	}
	out = g.run("snapshot-inspect", "", 0)
	for _, want := range []string{"SNAPSHOT", "RATIO", "base", "0 damaged"} {
		if !strings.Contains(out, want) {
			t.Fatalf("snapshot inspect: no %q in\n%s", want, out)
		}
	}
	if out = g.run("blob-verify", "", 0); !strings.Contains(out, "50 blobs verified") || !strings.Contains(out, "0 damaged") {
		t.Fatalf("blob verify:\n%s", out)
	}

	// A flipped byte in one blob's data: blob verify names it and exits 1.
	var victim string
	_ = filepath.WalkDir(filepath.Join(data, "blobs", "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && victim == "" {
			victim = p
		}
		return nil
	})
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xff // in the first block's data (the header is 96 bytes)
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := g.command("blob-verify")
	var o bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &o
	if err := cmd.Run(); exitCode(err) != 1 || !strings.Contains(o.String(), filepath.Base(victim)) || !strings.Contains(o.String(), "1 damaged") {
		t.Fatalf("blob verify of a damaged blob: %v\n%s", err, o.String())
	}
}

// TestGuideScaling runs docs/guides/scaling.md against a three-node cluster: health and the
// node list, a storage node (a process) that joins as a non-voter, promoted and demoted.
func TestGuideScaling(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	g := loadGuide(t, "scaling.md")
	guideEnv(g)
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	l := c.WaitForLeader()
	c.WaitFormed()
	g.setenv("NEBULAIO_ADMIN_ADDRESS", c.AdminURL(0))

	out := g.run("health", "", 0)
	for _, want := range []string{`"failure_tolerance": 1`, "n1", "n2", "n3", "RAFT STATE"} {
		if !strings.Contains(out, want) {
			t.Fatalf("health and nodes: no %q in\n%s", want, out)
		}
	}

	cfg := writeNodeConfig(t, g.dir, "storage", filepath.Join(g.dir, "storage-1"), "", "", "")
	g.setenv("CONFIG", cfg.path)
	g.setenv("JOIN", c.GossipAddr(0))
	s := g.start("add-storage-node")
	s.waitReady(cfg.admin)
	suffrage := func(want string) func() error {
		return func() error {
			servers, err := c.MustNode(l).Engine().Servers()
			if err != nil {
				return err
			}
			for _, sv := range servers {
				if sv.ID == "storage-1" {
					if got := map[bool]string{true: "voter", false: "nonvoter"}[sv.Voter]; got != want {
						return fmt.Errorf("storage-1 is a %s", got)
					}
					return nil
				}
			}
			return errors.New("storage-1 is not in raft")
		}
	}
	testutil.WaitFor(t, 60*time.Second, "storage-1 a non-voter", suffrage("nonvoter"))
	out = g.run("promote-demote", "", 0)
	testutil.WaitFor(t, 30*time.Second, "storage-1 a non-voter again", suffrage("nonvoter"))
	s.kill(syscall.SIGTERM)
}

// TestGuideOperations runs the rolling upgrade of docs/guides/operations.md on a three-node
// cluster: each node in turn is checked for, stopped, started again as a process (the "new
// binary") on its data directory, and waited for; the cluster keeps three healthy voters, and
// every object written before reads back from the last node restarted, which takes writes.
func TestGuideOperations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	g := loadGuide(t, "operations.md")
	guideEnv(g)
	var rafts, gossips [3]string
	for i := range 3 {
		rafts[i], gossips[i] = testutil.FreeAddr(t, false), testutil.FreeAddr(t, true)
	}
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.RaftAddress, cfg.Cluster.GossipAddress = rafts[i], gossips[i]
	}})
	c.WaitForLeader()
	c.WaitFormed()
	if _, err := c.S3Client(0).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("rolling")}); err != nil {
		t.Fatal(err)
	}
	putN(t, c.S3Client(0), "rolling", 0, 20)

	healthy := func(admin string) func() error {
		return func() error {
			var h strings.Builder
			if code := runCluster([]string{"--admin", admin, "--token", testcluster.AdminToken, "health"}, &h, &h); code != 0 {
				return fmt.Errorf("exit %d: %s", code, h.String())
			}
			if !strings.Contains(h.String(), `"healthy_voters": 3`) || !strings.Contains(h.String(), `"failure_tolerance": 1`) {
				return fmt.Errorf("not all voters healthy:\n%s", h.String())
			}
			return nil
		}
	}
	var last nodeConfig
	for i := range 3 {
		g.setenv("NEBULAIO_ADMIN_ADDRESS", c.AdminURL(i))
		testutil.WaitFor(t, 60*time.Second, "three healthy voters before "+c.ID(i)+" is upgraded", healthy(c.AdminURL(i)))
		if out := g.run("health-before", "", 0); !strings.Contains(out, `"failure_tolerance": 1`) {
			t.Fatalf("health before upgrading %s:\n%s", c.ID(i), out)
		}
		c.Stop(i) // step 2: SIGTERM
		last = writeNodeConfig(t, g.dir, c.ID(i), c.Config(i).DataDir, rafts[i], gossips[i],
			fmt.Sprintf("  join_addresses: [%s]\n", gossips[(i+1)%3]))
		g.setenv("CONFIG", last.path)
		g.setenv("NEBULAIO_ADMIN_ADDRESS", "http://"+last.admin)
		g.start("restart")
		if out := g.run("wait-ready", "", 0); !strings.Contains(out, `"voters": 3`) {
			t.Fatalf("after restarting %s:\n%s", c.ID(i), out)
		}
		testutil.WaitFor(t, 60*time.Second, "three healthy voters after "+c.ID(i)+" is upgraded", healthy(last.admin))
	}
	client := s3Client(last.s3)
	checkN(t, client, "rolling", 0, 20, false)
	putN(t, client, "rolling", 20, 1)
	checkN(t, client, "rolling", 20, 1, false)
}

// TestGuideOperationsMembership runs docs/operations.md: its Bootstrap section
// (guideOperationsBootstrap), then its join, drain, remove and leader transfer commands
// (guideOperationsMembership); the `make` commands of the fault suite are checked by loadDoc
// (their targets exist).
func TestGuideOperationsMembership(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	g := loadDoc(t, "operations.md")
	guideEnv(g)
	guideOperationsBootstrap(t, g)
	guideOperationsMembership(t, g)
}

// guideOperationsMembership runs the membership commands of docs/operations.md against a
// three-node cluster (node-1..node-3): a storage node (a process) joins with the token the
// guide fetches and becomes a non-voter; it receives copies of objects; the guide drains it
// with --wait and removes it: every object reads back from the three others, raft no longer
// holds node-4 and its /health/ready answers 503 "removed". Then the guide transfers the
// leadership to node-2 and on to any other voter.
func guideOperationsMembership(t *testing.T, g *guide) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(i int, cfg *config.Config) {
		cfg.NodeID = fmt.Sprintf("node-%d", i+1)
		cfg.Performance.InlineObjectSize = 0 // the objects are blob files, which node-4 gets copies of
	}})
	c.WaitForLeader()
	c.WaitFormed()
	ctx := context.Background()
	if _, err := c.S3Client(0).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("members")}); err != nil {
		t.Fatal(err)
	}

	// Join.
	cfg := writeNodeConfig(t, g.dir, "node-4", filepath.Join(g.dir, "node-4"), "", "", "")
	g.setenv("MEMBER", c.AdminURL(0))
	g.setenv("JOIN", c.GossipAddr(0))
	g.setenv("CONFIG", cfg.path)
	n4 := g.start("join")
	n4.waitReady(cfg.admin)
	inRaft := func() (found, voter bool, err error) {
		l := c.Leader()
		if l < 0 {
			return false, false, errors.New("no leader")
		}
		servers, err := c.MustNode(l).Engine().Servers()
		if err != nil {
			return false, false, err
		}
		for _, sv := range servers {
			if sv.ID == "node-4" {
				return true, sv.Voter, nil
			}
		}
		return false, false, nil
	}
	testutil.WaitFor(t, 60*time.Second, "node-4 a non-voter", func() error {
		found, voter, err := inRaft()
		if err != nil || !found || voter {
			return fmt.Errorf("in raft %v, voter %v, %v", found, voter, err)
		}
		return nil
	})
	putN(t, c.S3Client(0), "members", 0, 30)
	blobs4 := filepath.Join(cfg.data, "blobs", "blobs")
	testutil.WaitFor(t, 60*time.Second, "copies on node-4", func() error {
		if countFiles(blobs4) == 0 {
			return errors.New("no blob on node-4 yet")
		}
		return nil
	})

	// Drain and remove.
	g.setenv("NEBULAIO_ADMIN_ADDRESS", c.AdminURL(1))
	out := g.run("drain-remove", "", 0)
	if !strings.Contains(out, "node-4 is drained: remove it with `nebulaio cluster remove node-4`") {
		t.Fatalf("drain --wait:\n%s", out)
	}
	testutil.WaitFor(t, 30*time.Second, "node-4 out of raft", func() error {
		if found, _, err := inRaft(); err != nil || found {
			return fmt.Errorf("still in raft (%v)", err)
		}
		return nil
	})
	for i := range 3 {
		checkN(t, c.S3Client(i), "members", 0, 30, false)
	}
	testutil.WaitFor(t, 30*time.Second, "node-4 answering 503 removed", func() error {
		resp, err := http.Get("http://" + cfg.admin + "/health/ready")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "removed from the cluster") {
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return nil
	})
	n4.kill(syscall.SIGTERM)

	// Leader transfer: to node-2 (made a follower first), then to any other voter.
	if l := c.WaitForLeader(); c.ID(l) == "node-2" {
		var o strings.Builder
		if code := runCluster([]string{"--admin", c.AdminURL(0), "--token", testcluster.AdminToken, "transfer-leader"}, &o, &o); code != 0 {
			t.Fatalf("transfer-leader away from node-2 (exit %d):\n%s", code, o.String())
		}
		c.WaitForNewLeader(l)
	}
	out = g.run("transfer-leader", "", 0)
	if strings.Count(out, `"leader_id": "node-2"`) != 1 || !strings.Contains(out, `"previous_leader_id": "node-2"`) {
		t.Fatalf("transfer-leader: want node-2 to lead, then another voter:\n%s", out)
	}
	if l := c.WaitForLeader(); c.ID(l) == "node-2" {
		t.Fatalf("node-2 still leads after the second transfer:\n%s", out)
	}
	putN(t, c.S3Client(0), "members", 30, 1)
}

// guideOperationsBootstrap runs the Bootstrap section of docs/operations.md: a new token
// (no server), then three node processes given it, the first with expect_nodes=3 and the
// others joining its gossip address, started last-first (start order does not matter); the
// first bootstraps all three as voters of the token's cluster, and health says so.
func guideOperationsBootstrap(t *testing.T, g *guide) {
	out := g.run("new-token", "", 0)
	tok, err := trust.ParseToken(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("new-token: %v:\n%s", err, out)
	}
	g.setenv("NEBULAIO_JOIN_TOKEN", strings.TrimSpace(out))
	gossip1 := testutil.FreeAddr(t, true)
	g.setenv("JOIN", gossip1)
	var cfgs [3]nodeConfig
	for i := range 3 {
		gossip := ""
		if i == 0 {
			gossip = gossip1
		}
		id := fmt.Sprintf("node-%d", i+1)
		cfgs[i] = writeNodeConfig(t, g.dir, id, filepath.Join(g.dir, id), "", gossip, "")
	}
	var servers [3]*server
	for i := 2; i >= 0; i-- {
		g.setenv("CONFIG", cfgs[i].path)
		servers[i] = g.start(fmt.Sprintf("bootstrap-node-%d", i+1))
	}
	for i := range 3 {
		servers[i].waitReady(cfgs[i].admin)
	}
	g.setenv("NEBULAIO_ADMIN_ADDRESS", "http://"+cfgs[1].admin)
	for _, want := range []string{`"voters": 3`, `"failure_tolerance": 1`, `"cluster_id": "` + tok.ClusterID + `"`} {
		testutil.WaitFor(t, 30*time.Second, "health with "+want, func() error {
			var h strings.Builder
			if code := runCluster([]string{"--admin", cfgs[1].admin, "--token", testcluster.AdminToken, "health"}, &h, &h); code != 0 || !strings.Contains(h.String(), want) {
				return fmt.Errorf("exit %d:\n%s", code, h.String())
			}
			return nil
		})
	}
	if out := g.run("bootstrap-health", "", 0); !strings.Contains(out, `"voters": 3`) || !strings.Contains(out, tok.ClusterID) {
		t.Fatalf("health:\n%s", out)
	}
	for i := range 3 {
		servers[i].kill(syscall.SIGTERM)
	}
}

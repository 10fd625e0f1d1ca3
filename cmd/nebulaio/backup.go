package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/backup"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/httpapi"
	"github.com/nebulaio/nebulaio/node"
)

// stdin is what recover reads its confirmation from (a test replaces it).
var stdin io.Reader = os.Stdin

const backupUsage = `usage: nebulaio backup <command> ...

commands:
  create --to FILE [--admin URL] [--token T] [--cacert FILE]
        take a metadata backup through a running node's admin API (any node: the backup's
        read barrier goes through the leader) and write it to FILE, verified
  verify FILE
        check a backup end to end (checksums, every metadata record, counts, blob manifest)
  blobs FILE [--check DIR] [--deep]
        print the blob manifest (one JSON object per blob), or check that the blob directory
        DIR (a node's data_dir/blobs) holds every blob it lists
  restore FILE --data_dir DIR [server flags] [--old-token T] [--blobs DIR] [--deep] [--allow-missing-blobs]
        seed DIR with the backup: a node started on it with the same flags is a new
        one-voter cluster (new cluster ID) holding the backed-up metadata; the blob files
        must be copied into DIR/blobs first (docs/guides/backup-and-recovery.md)
`

// runBackup is `nebulaio backup create|verify|blobs|restore`.
func runBackup(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, backupUsage)
		return 2
	}
	switch args[0] {
	case "create":
		return runBackupCreate(args[1:], stdout, stderr)
	case "verify":
		return runBackupVerify(args[1:], stdout, stderr)
	case "blobs":
		return runBackupBlobs(args[1:], stdout, stderr)
	case "restore":
		return runBackupRestore(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, backupUsage)
		return 0
	}
	fmt.Fprintf(stderr, "nebulaio backup: unknown command %q\n\n%s", args[0], backupUsage)
	return 2
}

// parseWithArgs parses flags that may follow the arguments; code is -1 to go on.
func parseWithArgs(fs *flag.FlagSet, args []string, nargs int) ([]string, int) {
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	if len(rest) != nargs {
		fs.Usage()
		return nil, 2
	}
	return rest, -1
}

func runBackupCreate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nebulaio backup create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "the file to write (required; written as FILE.partial, renamed when verified)")
	admin := fs.String("admin", envOr("NEBULAIO_ADMIN_ADDRESS", "http://127.0.0.1:9001"), "admin API base URL of any node (env NEBULAIO_ADMIN_ADDRESS)")
	token := fs.String("token", os.Getenv("NEBULAIO_ADMIN_TOKEN"), "bearer token (env NEBULAIO_ADMIN_TOKEN; default: read from --data_dir)")
	dataDir := fs.String("data_dir", "./data", "data directory whose credentials.json holds the token when --token is not given")
	caFile := fs.String("cacert", os.Getenv("NEBULAIO_ADMIN_CA"), "PEM CA bundle that verifies an https admin listener (env NEBULAIO_ADMIN_CA); default: the system's roots")
	fs.Usage = func() { fmt.Fprint(stderr, "usage: nebulaio backup create --to FILE [flags]\n\n"); fs.PrintDefaults() }
	if _, code := parseWithArgs(fs, args, 0); code >= 0 {
		return code
	}
	if *to == "" {
		fmt.Fprintln(stderr, "nebulaio backup create: --to FILE is required")
		return 2
	}
	if *token == "" {
		if c, err := node.ReadCredentials(*dataDir); err == nil {
			*token = c.AdminToken
		}
	}
	base := strings.TrimRight(*admin, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/admin/backup", nil)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	hc, err := adminHTTPClient(*caFile)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: --cacert: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "taking a backup through %s ...\n", base)
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Code, Message string }
		if json.Unmarshal(body, &e) == nil && e.Code != "" {
			fmt.Fprintf(stderr, "nebulaio: backup (%d %s): %s\n", resp.StatusCode, e.Code, e.Message)
		} else {
			fmt.Fprintf(stderr, "nebulaio: backup: HTTP %d: %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return 1
	}
	partial := *to + ".partial"
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	h := sha256.New()
	p := newProgress(stderr, "download", true)
	n, err := io.Copy(io.MultiWriter(f, h), &countingReader{r: resp.Body, fn: func(n int64) { p.update(n, resp.ContentLength) }})
	p.done()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch sum := hex.EncodeToString(h.Sum(nil)); {
	case err != nil:
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		err = fmt.Errorf("received %d of %d bytes", n, resp.ContentLength)
	case resp.Header.Get(httpapi.BackupSHA256Header) != sum:
		err = fmt.Errorf("received SHA-256 %s, the node sent %s", sum, resp.Header.Get(httpapi.BackupSHA256Header))
	}
	if err != nil {
		os.Remove(partial)
		fmt.Fprintf(stderr, "nebulaio: backup: %v\n", err)
		return 1
	}
	m, code := verifyFile(partial, stderr)
	if code != 0 {
		os.Remove(partial)
		return code
	}
	if err := os.Rename(partial, *to); err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	if d, err := os.Open(filepath.Dir(*to)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	fmt.Fprintf(stdout, "backup written to %s (%s)\n", *to, humanize.IBytes(uint64(n)))
	printManifest(stdout, m)
	return 0
}

// countingReader calls fn with the bytes read so far.
type countingReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.fn(c.n)
	return n, err
}

func verifyFile(path string, stderr io.Writer) (backup.Manifest, int) {
	p := newProgress(stderr, "verify", true)
	m, err := backup.VerifyFile(path, backup.VerifyOptions{Progress: p.update})
	p.done()
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %s: %v\n", path, err)
		return m, 1
	}
	return m, 0
}

func orNone(s string) string {
	if s == "" {
		return "(none recorded)"
	}
	return s
}

func printManifest(w io.Writer, m backup.Manifest) {
	cluster := orNone(m.ClusterID)
	fmt.Fprintf(w, "  cluster:   %s\n  taken on:  %s (nebulaio %s) at %s\n  raft:      index %d, term %d (applied %d)\n",
		cluster, m.NodeID, m.Version, m.Created.Format(time.RFC3339), m.Index, m.Term, m.AppliedIndex)
	var servers []string
	for _, s := range m.Servers {
		suffrage := "voter"
		if !s.Voter {
			suffrage = "nonvoter"
		}
		servers = append(servers, fmt.Sprintf("%s (%s, %s)", s.ID, s.Address, suffrage))
	}
	fmt.Fprintf(w, "  servers:   %s\n", strings.Join(servers, ", "))
	c := m.Counts
	fmt.Fprintf(w, "  counts:    %d buckets, %d objects, %d versions, %d delete markers, %d uploads, %d parts, %d records\n",
		c.Buckets, c.Objects, c.Versions, c.DeleteMarkers, c.Uploads, c.Parts, c.Records)
	fmt.Fprintf(w, "  blobs:     %d referenced, %s of object data (not in the backup: copy data_dir/blobs)\n", c.Blobs, humanize.IBytes(c.BlobBytes))
}

func runBackupVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nebulaio backup verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, "usage: nebulaio backup verify FILE\n") }
	rest, code := parseWithArgs(fs, args, 1)
	if code >= 0 {
		return code
	}
	m, code := verifyFile(rest[0], stderr)
	if code != 0 {
		return code
	}
	fmt.Fprintf(stdout, "%s: OK\n", rest[0])
	printManifest(stdout, m)
	return 0
}

func runBackupBlobs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nebulaio backup blobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.String("check", "", "a blob directory (data_dir/blobs) to check against the blob manifest")
	deep := fs.Bool("deep", false, "with --check: read every byte of every blob")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: nebulaio backup blobs FILE [--check DIR] [--deep]\n\n")
		fs.PrintDefaults()
	}
	rest, code := parseWithArgs(fs, args, 1)
	if code >= 0 {
		return code
	}
	a, err := backup.OpenFile(rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %s: %v\n", rest[0], err)
		return 1
	}
	if *check == "" {
		w := bufio.NewWriter(stdout)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		err := a.Blobs(func(e backup.BlobEntry) error { return enc.Encode(e) })
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			fmt.Fprintf(stderr, "nebulaio: %s: %v\n", rest[0], err)
			return 1
		}
		return 0
	}
	dir := *check
	if isDir(filepath.Join(dir, "blobs", "blobs")) { // a data directory
		dir = filepath.Join(dir, "blobs")
	}
	v, err := blob.NewVerifier(dir, nil)
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %v\n", err)
		return 1
	}
	p := newProgress(stderr, "blobs", false)
	rep, err := backup.CheckBlobs(a, v, backup.CheckOptions{Deep: *deep, Progress: p.update})
	took := p.done()
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: %s: %v\n", rest[0], err)
		return 1
	}
	printBlobReport(stdout, dir, rep)
	fmt.Fprintf(stdout, "; %s\n", elapsed(took))
	if rep.Missing+rep.Damaged > 0 {
		return 1
	}
	return 0
}

func printBlobReport(w io.Writer, dir string, rep backup.CheckReport) {
	for _, pr := range rep.Problems {
		fmt.Fprintln(w, pr.String())
	}
	if n := rep.Missing + rep.Damaged - len(rep.Problems); n > 0 {
		fmt.Fprintf(w, "(%d more not listed)\n", n)
	}
	fmt.Fprintf(w, "blobs in %s: %s checked, %s intact (%s), %d missing, %d damaged", dir, humanize.Comma(int64(rep.Checked)),
		humanize.Comma(int64(rep.Checked-rep.Missing-rep.Damaged)), humanize.IBytes(rep.Bytes), rep.Missing, rep.Damaged)
	if rep.Inline > 0 {
		fmt.Fprintf(w, " (%s of them inline: in the metadata)", humanize.Comma(int64(rep.Inline)))
	}
}

func runBackupRestore(args []string, stdout, stderr io.Writer) int {
	var blobDir, oldToken string
	var deep, allowMissing bool
	cfg, _, rest, code := loadConfigWith("nebulaio backup restore", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&blobDir, "blobs", "", "the blob directory to check against the backup (default: data_dir/blobs when it exists)")
		fs.BoolVar(&deep, "deep", false, "read every byte of every blob while checking")
		fs.BoolVar(&allowMissing, "allow-missing-blobs", false, "restore although blobs are missing or damaged (their objects will not read)")
		fs.StringVar(&oldToken, "old-token", os.Getenv("NEBULAIO_OLD_TOKEN"), "join token of the backed-up cluster (env NEBULAIO_OLD_TOKEN): the restored cluster keeps its secret under a new cluster ID, so users' secret keys keep working")
	})
	if code >= 0 {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprint(stderr, "usage: nebulaio backup restore FILE --data_dir DIR [server flags] [--blobs DIR] [--deep] [--allow-missing-blobs]\n")
		return 2
	}
	var p *progress
	step := ""
	res, err := node.Restore(cfg, rest[0], node.RestoreOptions{
		BlobDir: blobDir, DeepBlobCheck: deep, AllowMissingBlobs: allowMissing, OldToken: oldToken, Logger: zerolog.Nop(),
		Progress: func(s string, done, total int64) {
			if s != step {
				if p != nil {
					p.done()
				}
				step, p = s, newProgress(stderr, s, s == "verify")
			}
			p.update(done, total)
		},
	})
	if p != nil {
		p.done()
	}
	if res.Blobs != nil {
		printBlobReport(stdout, res.BlobDir, *res.Blobs)
		fmt.Fprintln(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: restore: %v\n", err)
		if errors.Is(err, node.ErrBlobsMissing) {
			fmt.Fprintln(stderr, "copy the blob files into data_dir/blobs first, or pass --allow-missing-blobs")
		}
		return 1
	}
	if res.BlobDir == "" {
		fmt.Fprintf(stdout, "no blob directory checked: %s/blobs does not exist yet (copy the blob files there before starting the node)\n", cfg.DataDir)
	}
	fmt.Fprintf(stdout, "restored %s into %s: a new one-voter cluster of %s (%s)\n", rest[0], cfg.DataDir, res.Server.ID, res.Server.Addr)
	fmt.Fprintf(stdout, "  new cluster: %s (the backup's was %s)\n", res.Identity.ClusterID, orNone(res.Manifest.ClusterID))
	if oldToken == "" && cfg.Cluster.Secret == "" && cfg.IAM.MasterKey == "" {
		fmt.Fprintln(stdout, "  note: the cluster has a new secret; users' secret keys were sealed under a key derived from the old one and will not open (restore with --old-token, or set iam.master_key as it was)")
	}
	printManifest(stdout, res.Manifest)
	fmt.Fprintf(stdout, "start it with the same flags: nebulaio server --data_dir=%s ...\n", cfg.DataDir)
	fmt.Fprintf(stdout, "other nodes join it with a new data directory and its token (a secret; also `nebulaio cluster token`):\n  %s\n", res.Identity.Token().Text())
	return 0
}

// runRecover is `nebulaio recover --force-new-cluster [server flags] [--yes]`.
func runRecover(args []string, stdout, stderr io.Writer) int {
	var force, yes bool
	cfg, _, rest, code := loadConfigWith("nebulaio recover", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force-new-cluster", false, "make this stopped node the only voter of its cluster, keeping its data")
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	})
	if code >= 0 {
		return code
	}
	if !force || len(rest) != 0 {
		fmt.Fprint(stderr, `usage: nebulaio recover --force-new-cluster --data_dir DIR [--node_id ID] [server flags] [--yes]

Rewrites the raft configuration of a STOPPED node so that it alone is the cluster, with every
entry it holds. Only for when a majority of the voters is lost for good; the lost nodes must
never come back with their old data (wipe them and join them as new nodes).
`)
		return 2
	}
	fmt.Fprintf(stderr, `
!!! DISASTER RECOVERY: FORCE A NEW CLUSTER !!!

This rewrites the raft state in %s so that node %q is the ONLY voter of its
cluster, with every entry it holds (including entries that may never have been committed).
Use it only when a majority of the voters is lost for good. Every other member must NEVER be
started again with its old data directory: wipe it and join it as a new node.
The node must be stopped.

`, filepath.Join(cfg.DataDir, "raft"), cfg.NodeID)
	if !yes {
		fmt.Fprintf(stderr, "Type the node ID (%s) to continue: ", cfg.NodeID)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != cfg.NodeID {
			fmt.Fprintln(stderr, "\nnot confirmed; nothing changed")
			return 1
		}
	}
	res, err := node.ForceNewCluster(cfg, zerolog.Nop())
	if err != nil {
		fmt.Fprintf(stderr, "nebulaio: recover: %v\n", err)
		return 1
	}
	var old []string
	for _, s := range res.Old {
		old = append(old, s.ID)
	}
	fmt.Fprintf(stdout, "recovered: %s (%s) is now the only voter (was: %s); state kept up to index %d, term %d\n",
		res.Server.ID, res.Server.Addr, strings.Join(old, ", "), res.Index, res.Term)
	fmt.Fprintf(stdout, "start it with the same flags: nebulaio server --data_dir=%s ...\n", cfg.DataDir)
	return 0
}

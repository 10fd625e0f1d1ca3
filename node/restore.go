package node

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/backup"
	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// Errors of the offline operations (Restore, ForceNewCluster).
var (
	// ErrNotEmpty: Restore refuses a data directory that holds raft state or the gossip peers
	// of a cluster: it seeds a new node.
	ErrNotEmpty = errors.New("node: the data directory is not that of a new node")
	// ErrBlobsMissing: the blob directory lacks blobs the backup references (or holds them
	// damaged) and RestoreOptions.AllowMissingBlobs is not set.
	ErrBlobsMissing = errors.New("node: the blob directory does not hold every blob the backup references")
	// ErrRestoreToken: Restore refuses a configuration with cluster.join_token (the token
	// names an existing cluster, and the restored node is a new one: it would refuse to start
	// with the token), and an OldToken of another cluster than the backup's.
	ErrRestoreToken = errors.New("node: cluster.join_token is set, but a restored node is a new cluster")
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// BlobDir is the blob store directory to check against the backup's blob manifest; ""
	// means data_dir/blobs, checked when it exists.
	BlobDir string
	// DeepBlobCheck reads every byte of every blob (see backup.CheckOptions.Deep).
	DeepBlobCheck bool
	// AllowMissingBlobs restores although blobs are missing or damaged (their objects will
	// fail to read).
	AllowMissingBlobs bool
	// Progress, if not nil, is called during the long steps with the step ("verify",
	// "blobs") and how far it is.
	Progress func(step string, done, total int64)
	// OldToken is the join token of the backed-up cluster (kept with the backups): the
	// restored cluster keeps its secret, under a new cluster ID, so that what is sealed under
	// keys derived from the secret opens (users' secret keys, unless iam.master_key is set).
	// "" makes a new secret (or takes cluster.secret). A token of another cluster than the
	// backup's is refused.
	OldToken string
	// Logger receives the stores' log lines.
	Logger zerolog.Logger
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Manifest backup.Manifest
	// RaftDir is the directory seeded; Server the one voter of the new cluster.
	RaftDir string
	Server  engine.Server
	// BlobDir and Blobs are the blob check ("" and nil when no blob directory was checked).
	BlobDir string
	Blobs   *backup.CheckReport
	// Identity is the new cluster's identity, stored in data_dir/cluster.json: a new random
	// cluster ID, and cluster.secret or a generated secret. Its token (Identity.Token) is what
	// other nodes join the restored cluster with.
	Identity trust.Identity
}

// Restore seeds cfg's data directory with a backup so that a node started on it
// (`nebulaio server` with the same configuration) is a new one-voter cluster holding the
// backup's metadata: the backup is verified end to end (backup.VerifyFile), the blob directory
// is checked against its blob manifest, and its metadata becomes the node's only raft
// snapshot (engine.Seed), at the backup's index and term, with cfg.NodeID as the only voter
// at the raft address cfg gives (cluster.advertise_address and the port of
// cluster.raft_address). The restored cluster is a new one: the backup's cluster ID (fsm
// setting cluster.id) is left out of the metadata, and a new identity (internal/trust: a new
// random cluster ID, with the secret of RestoreOptions.OldToken or cluster.secret when one is
// given, else a generated secret) is stored in data_dir/cluster.json, so
// that the node records its new ID in replicated state when it leads. Object bytes are not
// restored: they are the blob files, copied into data_dir/blobs
// (docs/guides/backup-and-recovery.md).
//
// It refuses a configuration with cluster.join_token (ErrRestoreToken); a data directory that
// holds raft state, a cluster identity or gossip-peers.json (ErrNotEmpty: a restored node must
// not contact the members of an earlier cluster); and a blob directory that lacks blobs
// (ErrBlobsMissing, with the report), unless AllowMissingBlobs.
func Restore(cfg config.Config, path string, opts RestoreOptions) (RestoreResult, error) {
	res := RestoreResult{RaftDir: filepath.Join(cfg.DataDir, "raft")}
	if cfg.Cluster.JoinToken != "" {
		return res, fmt.Errorf("%w: remove cluster.join_token (or NEBULAIO_JOIN_TOKEN) from the configuration of the restore and of the node", ErrRestoreToken)
	}
	if err := checkNewDataDir(cfg.DataDir); err != nil {
		return res, err
	}
	progress := func(step string) func(done, total int64) {
		if opts.Progress == nil {
			return nil
		}
		return func(done, total int64) { opts.Progress(step, done, total) }
	}
	m, err := backup.VerifyFile(path, backup.VerifyOptions{Progress: progress("verify")})
	if err != nil {
		return res, err
	}
	res.Manifest = m
	secret := cfg.Cluster.Secret
	if opts.OldToken != "" {
		tok, err := trust.ParseToken(opts.OldToken)
		if err != nil {
			return res, fmt.Errorf("restore: the old cluster's token: %w", err)
		}
		if m.ClusterID != "" && tok.ClusterID != m.ClusterID {
			return res, fmt.Errorf("%w: the token is of cluster %s, the backup of cluster %s", ErrRestoreToken, tok.ClusterID, m.ClusterID)
		}
		if secret != "" {
			if s, err := trust.ParseSecret(secret); err != nil || !s.Equal(tok.Secret) {
				return res, fmt.Errorf("%w: cluster.secret differs from the secret of the old cluster's token; give one of them", ErrRestoreToken)
			}
		}
		secret = tok.Secret.Text()
	}
	a, err := backup.OpenFile(path)
	if err != nil {
		return res, err
	}

	res.BlobDir = opts.BlobDir
	if res.BlobDir == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "blobs")); err == nil {
			res.BlobDir = filepath.Join(cfg.DataDir, "blobs")
		}
	}
	if res.BlobDir != "" {
		v, err := blob.NewVerifier(res.BlobDir, nil)
		if err != nil {
			return res, err
		}
		rep, err := backup.CheckBlobs(a, v, backup.CheckOptions{Deep: opts.DeepBlobCheck, Progress: progress("blobs")})
		if err != nil {
			return res, err
		}
		res.Blobs = &rep
		if rep.Missing+rep.Damaged > 0 && !opts.AllowMissingBlobs {
			return res, fmt.Errorf("%w: %d missing, %d damaged of %d in %s", ErrBlobsMissing, rep.Missing, rep.Damaged, rep.Checked, res.BlobDir)
		}
	}

	res.Server = engine.Server{ID: cfg.NodeID, Addr: joinHostPort(cfg.Cluster.AdvertiseAddress, cfg.Cluster.RaftAddress), Voter: true}
	err = a.Metadata(func(r io.Reader) error {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := backup.Rewrite(pw, r, func(rec *fsm.StreamRecord) bool {
				return rec.Kind == fsm.RecordSetting && rec.Setting.Key == backup.SettingClusterID
			})
			pw.CloseWithError(err)
			done <- err
		}()
		err := engine.Seed(engine.SeedConfig{NodeID: cfg.NodeID, Addr: res.Server.Addr, Dir: res.RaftDir,
			Index: m.Index, Term: m.Term, Logger: opts.Logger}, pr)
		pr.Close() // a Seed that stopped early unblocks the writer
		if werr := <-done; err == nil && werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
			err = werr
		}
		return err
	})
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	// The identity last: a restore that failed before leaves no identity behind, so that it
	// can be run again.
	id, _, err := trust.Establish(vfs.OS, cfg.DataDir, trust.Inputs{Secret: secret, MayCreate: true}, time.Now())
	if err != nil {
		return res, fmt.Errorf("restore: the new cluster identity: %w", err)
	}
	res.Identity = id
	return res, nil
}

// checkNewDataDir refuses a data directory that belongs to a node already: raft state, or
// the remembered gossip peers of a cluster.
func checkNewDataDir(dataDir string) error {
	if _, err := os.Stat(filepath.Join(dataDir, trust.IdentityFile)); err == nil {
		return fmt.Errorf("%w: %s holds %s, the identity of a cluster; a restore makes a new cluster: remove it",
			ErrNotEmpty, dataDir, trust.IdentityFile)
	}
	if _, err := os.Stat(filepath.Join(dataDir, peersFile)); err == nil {
		return fmt.Errorf("%w: %s holds %s, the members of a cluster the restored node would contact; remove it",
			ErrNotEmpty, dataDir, peersFile)
	}
	for _, sub := range []string{"wal", "snapshots"} {
		d := filepath.Join(dataDir, "raft", sub)
		ents, err := os.ReadDir(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, e := range ents {
			if e.Name() != "LOCK" && e.Name() != "stable" && e.Name() != "head" {
				return fmt.Errorf("%w: %s holds raft state (%s); restore into a new data directory", ErrNotEmpty, d, e.Name())
			}
		}
	}
	return nil
}

// advertisedRaftAddr is the raft address the node advertises as cfg says
// (cluster.advertise_address with the port of cluster.raft_address), "" when the port is
// chosen by the OS at start (tests) and so not known before.
func advertisedRaftAddr(cfg config.Config) string {
	_, port, _ := net.SplitHostPort(cfg.Cluster.RaftAddress)
	if port == "0" || port == "" {
		return ""
	}
	return net.JoinHostPort(cfg.Cluster.AdvertiseAddress, port)
}

// ForceNewCluster rewrites the raft state of the stopped node cfg describes so that it is the
// only voter of its cluster, keeping all it has (engine.ForceNewCluster): the way out when a
// majority of the voters is lost for good. The node's raft address in the new configuration
// is the one cfg gives (or the old one when the port is chosen at start). The remembered
// gossip peers (the lost members) are forgotten. The node's identity (data_dir/cluster.json)
// and the cluster ID in replicated state are kept: it is the same cluster, with one member. The node refuses to run it while it runs
// (the WAL's lock).
func ForceNewCluster(cfg config.Config, log zerolog.Logger) (engine.RecoverResult, error) {
	dir := filepath.Join(cfg.DataDir, "raft")
	if _, err := os.Stat(dir); err != nil {
		return engine.RecoverResult{}, fmt.Errorf("%w: %s (%v)", engine.ErrNoState, dir, err)
	}
	f := fsm.New(fsm.Options{CacheSize: cfg.Performance.MetadataCacheSize, MaxDirty: cfg.Performance.MaxRaftLogEntries})
	res, err := engine.ForceNewCluster(engine.RecoverConfig{NodeID: cfg.NodeID, Dir: dir, Addr: advertisedRaftAddr(cfg), FSM: f, Logger: log})
	if err != nil {
		return res, err
	}
	if err := os.Remove(filepath.Join(cfg.DataDir, peersFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("node: forget the gossip peers: %w", err)
	}
	return res, nil
}

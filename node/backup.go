package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/backup"
	"github.com/nebulaio/nebulaio/engine"
	"github.com/nebulaio/nebulaio/httpapi"
)

// backupAdmin implements the admin API's backup route (GET /api/v1/admin/backup).
type backupAdmin struct {
	n *Node
}

var _ httpapi.Backup = backupAdmin{}

// Backup takes a metadata backup on this node (engine.Node.Backup: a linearizable barrier
// through the leader, then a raft snapshot of the local FSM), writes the archive (package
// backup) into an unlinked file in data_dir, and returns it to stream with its size and
// SHA-256. Any node can serve it; while it runs, data_dir needs free space for about twice the
// metadata (the snapshot stream staged and the archive).
func (b backupAdmin) Backup(ctx context.Context) (httpapi.BackupFile, error) {
	n := b.n
	e := n.Engine()
	if e == nil {
		return httpapi.BackupFile{}, &httpapi.APIError{Status: http.StatusServiceUnavailable, Code: "starting", Message: "the node is still starting"}
	}
	meta, rc, err := e.Backup(ctx)
	if errors.Is(err, engine.ErrNothingToBackup) {
		return httpapi.BackupFile{}, &httpapi.APIError{Status: http.StatusConflict, Code: "nothing_to_back_up", Message: err.Error()}
	}
	if err != nil {
		return httpapi.BackupFile{}, apiError(err)
	}
	defer rc.Close()
	f, err := backup.StagedFile(n.cfg.DataDir)
	if err != nil {
		return httpapi.BackupFile{}, err
	}
	h := sha256.New()
	var size countWriter
	m, err := backup.Write(io.MultiWriter(f, h, &size), rc, backup.Info{
		NodeID: n.cfg.NodeID, Version: n.opts.Version, Created: time.Now(),
		Index: meta.Index, Term: meta.Term, Servers: servers(meta.Configuration),
	}, n.cfg.DataDir)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return httpapi.BackupFile{}, fmt.Errorf("backup: %w", err)
	}
	n.log.Info().Uint64("index", m.Index).Uint64("term", m.Term).Int("objects", m.Counts.Objects).Int("blobs", m.Counts.Blobs).
		Int64("bytes", int64(size)).Msg("metadata backup taken")
	cluster := m.ClusterID
	if cluster == "" {
		cluster = "nebulaio"
	}
	return httpapi.BackupFile{
		Name:   fmt.Sprintf("%s-%d-%s.tar.gz", cluster, m.Index, m.Created.Format("20060102T150405Z")),
		Size:   int64(size),
		SHA256: hex.EncodeToString(h.Sum(nil)),
		Body:   f,
	}, nil
}

func servers(c raft.Configuration) []backup.Server {
	out := make([]backup.Server, 0, len(c.Servers))
	for _, s := range c.Servers {
		out = append(out, backup.Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

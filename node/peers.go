package node

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/rs/zerolog"

	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/internal/vfs"
)

// peersFile remembers the gossip addresses of the other members last seen alive, so that a
// node that restarts rejoins gossip even when it has no join_addresses (the bootstrap node) or
// they are gone. The others stop contacting a member once it has been dead for a while, so
// without this a restarted bootstrap node could stay alone in gossip while raft works.
const peersFile = "gossip-peers.json"

type peersState struct {
	Addrs []string `json:"addrs"`
}

// loadPeers returns the remembered addresses (none if the file is missing or unreadable).
func loadPeers(dataDir string, log zerolog.Logger) []string {
	b, err := os.ReadFile(filepath.Join(dataDir, peersFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var st peersState
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		log.Warn().Err(err).Str("file", peersFile).Msg("ignoring the remembered gossip peers")
		return nil
	}
	return st.Addrs
}

// joinList is the configured join addresses followed by the remembered ones, without
// duplicates.
func joinList(configured, remembered []string) []string {
	out := slices.Clone(configured)
	for _, a := range remembered {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// peerRecorder rewrites the peers file when the set of alive members changes.
type peerRecorder struct {
	mu   sync.Mutex
	dir  string
	last []string
	log  zerolog.Logger
}

func (p *peerRecorder) record(g *gossip.Gossip) {
	var addrs []string
	for _, m := range g.Members() {
		if !m.Local && m.State == gossip.StateAlive && m.Addr != "" {
			addrs = append(addrs, m.Addr)
		}
	}
	if len(addrs) == 0 {
		return // keep what we knew: being alone is when the list is needed
	}
	slices.Sort(addrs)
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.Equal(addrs, p.last) {
		return
	}
	b, _ := json.Marshal(peersState{Addrs: addrs})
	if err := vfs.WriteFile(vfs.OS, filepath.Join(p.dir, peersFile), b, 0o600); err != nil {
		p.log.Warn().Err(err).Msg("remember gossip peers")
		return
	}
	p.last = addrs
}

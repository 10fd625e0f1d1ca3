package snapshot

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"

	"github.com/hashicorp/raft"
)

// Manifest file layout (see doc.go, "Manifest format"):
//
//	+--------------+------------+---------+-------------+-----------+----------------+
//	| magic "NBMF" | version u8 | 0 0 0   | bodyLen u32 | JSON body | crc32c u32     |
//	+--------------+------------+---------+-------------+-----------+----------------+
//
// The CRC covers every byte before it. bodyLen is bounded by maxManifestBody.

const (
	manifestMagic   = "NBMF"
	manifestVersion = 1
	maxManifestBody = 16 << 20
	manifestSuffix  = ".manifest"
	runSuffix       = ".run"
	tmpSuffix       = ".tmp"
)

// manifest describes one snapshot: raft's metadata and the runs that hold its state.
type manifest struct {
	ID                 string
	Index              uint64
	Term               uint64
	Seq                uint64 // store-wide creation order, the tie-break for List
	Version            raft.SnapshotVersion
	Configuration      raft.Configuration
	ConfigurationIndex uint64
	// SinkSize is the number of stream bytes the sink received.
	SinkSize int64
	// Parent is the snapshot a delta stream named ("" for a full stream).
	Parent string `json:",omitempty"`
	// Runs are run file names: Runs[0] is the base; the rest are deltas, oldest first.
	Runs []string
	// DataSize and Records describe the merged view (the body of Open's stream); -1 when not
	// yet known (a snapshot with deltas until Open or compaction computes them).
	DataSize int64
	Records  int64
}

var (
	idPattern  = regexp.MustCompile(`^[0-9]+-[0-9]+-[0-9]+$`)
	runPattern = regexp.MustCompile(`^run-[0-9a-f]{16}\.run$`)
)

func runName(seq uint64) string { return fmt.Sprintf("run-%016x%s", seq, runSuffix) }

func snapshotID(term, index, seq uint64) string { return fmt.Sprintf("%d-%d-%d", term, index, seq) }

func encodeManifest(m *manifest) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 12+len(body)+4)
	b = append(b, manifestMagic...)
	b = append(b, manifestVersion, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// decodeManifest parses and validates a manifest file's bytes; name is the file name, which
// must match the ID inside.
func decodeManifest(name string, b []byte) (*manifest, error) {
	if len(b) < 16 {
		return nil, fmt.Errorf("manifest %s: %w: %d bytes", name, ErrTruncated, len(b))
	}
	if string(b[:4]) != manifestMagic || b[4] != manifestVersion || b[5]|b[6]|b[7] != 0 {
		return nil, fmt.Errorf("manifest %s: %w: bad header %x", name, ErrCorrupt, b[:8])
	}
	n := binary.LittleEndian.Uint32(b[8:12])
	if n > maxManifestBody || int(n) != len(b)-16 {
		return nil, fmt.Errorf("manifest %s: %w: body length %d in %d bytes", name, ErrCorrupt, n, len(b))
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("manifest %s: %w: checksum", name, ErrCorrupt)
	}
	m := new(manifest)
	if err := json.Unmarshal(b[12:len(b)-4], m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w: %v", name, ErrCorrupt, err)
	}
	switch {
	case !idPattern.MatchString(m.ID) || m.ID+manifestSuffix != name:
		return nil, fmt.Errorf("manifest %s: %w: id %q", name, ErrCorrupt, m.ID)
	case len(m.Runs) == 0:
		return nil, fmt.Errorf("manifest %s: %w: no runs", name, ErrCorrupt)
	case m.SinkSize < 0 || m.DataSize < -1 || m.Records < -1 || (m.DataSize < 0) != (m.Records < 0):
		return nil, fmt.Errorf("manifest %s: %w: bad sizes", name, ErrCorrupt)
	}
	seen := make(map[string]bool, len(m.Runs))
	for _, r := range m.Runs {
		if !runPattern.MatchString(r) || seen[r] {
			return nil, fmt.Errorf("manifest %s: %w: run name %q", name, ErrCorrupt, r)
		}
		seen[r] = true
	}
	return m, nil
}

func (m *manifest) clone() *manifest {
	c := *m
	c.Runs = append([]string(nil), m.Runs...)
	c.Configuration = m.Configuration.Clone()
	return &c
}

func (m *manifest) meta(size int64) *raft.SnapshotMeta {
	return &raft.SnapshotMeta{
		Version:            m.Version,
		ID:                 m.ID,
		Index:              m.Index,
		Term:               m.Term,
		Configuration:      m.Configuration.Clone(),
		ConfigurationIndex: m.ConfigurationIndex,
		Size:               size,
	}
}

// newer reports whether a sorts before b in List's order (newest first).
func newer(a, b *manifest) bool {
	if a.Index != b.Index {
		return a.Index > b.Index
	}
	if a.Term != b.Term {
		return a.Term > b.Term
	}
	return a.Seq > b.Seq
}

func hasPrefix(runs, prefix []string) bool {
	if len(runs) < len(prefix) {
		return false
	}
	for i := range prefix {
		if runs[i] != prefix[i] {
			return false
		}
	}
	return true
}

func isTemp(name string) bool { return strings.HasSuffix(name, tmpSuffix) }

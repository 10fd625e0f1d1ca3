package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MetaMaxSize is the largest encoded NodeMeta memberlist accepts (memberlist.MetaMaxSize).
const MetaMaxSize = 512

// Encoding versions: version 1 has six strings; version 2 adds a seventh, the cluster ID.
// Metadata is written at the lowest version that holds it (version 2 only with a cluster ID),
// so one value has one encoding.
const (
	metaVersion          = 1
	metaVersionClusterID = 2
)

// metaFlagVoter is bit 0 of the flags byte; every other bit is reserved and must be zero.
const metaFlagVoter = 1 << 0

// metaHeaderSize is version (1) + flags (1) + instance (8).
const metaHeaderSize = 10

// Errors returned by the metadata codec.
var (
	// ErrMetaTooLarge is returned by New and UpdateMeta when the encoded metadata would exceed
	// MetaMaxSize bytes.
	ErrMetaTooLarge = errors.New("gossip: node metadata too large")
	// ErrMetaVersion is returned when decoding metadata written in an unknown encoding version.
	ErrMetaVersion = errors.New("gossip: unknown node metadata version")
	// ErrMetaCorrupt is returned when decoding metadata that is truncated, has trailing bytes,
	// reserved flag bits set, an out-of-range length or a string that is not UTF-8.
	ErrMetaCorrupt = errors.New("gossip: corrupt node metadata")
)

// NodeMeta is what a node tells the cluster about itself. It travels as memberlist node metadata,
// so every member sees every other member's NodeMeta; see doc.go for the byte layout.
type NodeMeta struct {
	ID        string // node ID; always equal to the memberlist node name
	Role      string // "hybrid", "management" or "storage" (not interpreted here)
	Voter     bool   // whether the node wants to be a raft voter
	RaftAddr  string // host:port of raft and node-to-node RPC
	S3Addr    string // host:port of the S3 API
	AdminAddr string // host:port of the admin API
	Version   string // software version of the node
	ClusterID string // the cluster the node belongs to (Config.ClusterID); "" when none is set
}

// encodeMeta encodes m with the process instance nonce. The frame (doc.go has the table):
//
//	+---------+-------+--------------+-----+-----+-----+-----+-----+-----+---------+
//	| version | flags | instance u64 | ID  | Role| Raft| S3  |Admin| Ver | Cluster |
//	|  1 byte | 1 byte| 8 bytes BE   | uvarint length + bytes, each    | (v2)    |
//	+---------+-------+--------------+-----+-----+-----+-----+-----+-----+---------+
func encodeMeta(m NodeMeta, instance uint64) ([]byte, error) {
	fields := m.fields()
	size := metaHeaderSize
	for _, f := range fields {
		size += uvarintLen(uint64(len(f))) + len(f)
	}
	if size > MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, size, MetaMaxSize)
	}
	buf := make([]byte, 0, size)
	var flags byte
	if m.Voter {
		flags |= metaFlagVoter
	}
	version := byte(metaVersion)
	if m.ClusterID != "" {
		version = metaVersionClusterID
	}
	buf = append(buf, version, flags)
	buf = binary.BigEndian.AppendUint64(buf, instance)
	for _, f := range fields {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	return buf, nil
}

// decodeMeta is the defensive inverse of encodeMeta: it bounds every length by the bytes that
// remain, rejects reserved flag bits, non-minimal lengths, trailing bytes and invalid UTF-8, and
// never panics. What it accepts re-encodes to the same bytes.
func decodeMeta(b []byte) (NodeMeta, uint64, error) {
	var m NodeMeta
	if len(b) > MetaMaxSize {
		return m, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaCorrupt, len(b), MetaMaxSize)
	}
	if len(b) < 1 {
		return m, 0, fmt.Errorf("%w: empty", ErrMetaCorrupt)
	}
	if b[0] != metaVersion && b[0] != metaVersionClusterID {
		return m, 0, fmt.Errorf("%w: %d", ErrMetaVersion, b[0])
	}
	if len(b) < metaHeaderSize {
		return m, 0, fmt.Errorf("%w: header truncated at %d bytes", ErrMetaCorrupt, len(b))
	}
	flags := b[1]
	if flags&^metaFlagVoter != 0 {
		return m, 0, fmt.Errorf("%w: reserved flag bits %#x", ErrMetaCorrupt, flags)
	}
	m.Voter = flags&metaFlagVoter != 0
	instance := binary.BigEndian.Uint64(b[2:10])
	rest := b[metaHeaderSize:]
	fields := m.fieldPtrs()
	if b[0] == metaVersion {
		fields = fields[:len(fields)-1] // no cluster ID
	}
	for i, p := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || k != uvarintLen(n) {
			// Unterminated, overflowing or not minimal: one value has one encoding.
			return NodeMeta{}, 0, fmt.Errorf("%w: field %d: bad length", ErrMetaCorrupt, i)
		}
		rest = rest[k:]
		if n > uint64(len(rest)) {
			return NodeMeta{}, 0, fmt.Errorf("%w: field %d: length %d exceeds %d remaining bytes",
				ErrMetaCorrupt, i, n, len(rest))
		}
		s := rest[:n]
		if !utf8.Valid(s) {
			return NodeMeta{}, 0, fmt.Errorf("%w: field %d: not UTF-8", ErrMetaCorrupt, i)
		}
		*p = string(s)
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return NodeMeta{}, 0, fmt.Errorf("%w: %d trailing bytes", ErrMetaCorrupt, len(rest))
	}
	if b[0] == metaVersionClusterID && m.ClusterID == "" {
		return NodeMeta{}, 0, fmt.Errorf("%w: version 2 without a cluster ID", ErrMetaCorrupt)
	}
	return m, instance, nil
}

// fields lists the string fields in encoding order (the cluster ID only when set: version 2);
// fieldPtrs must list the same order, cluster ID last.
func (m *NodeMeta) fields() []string {
	f := []string{m.ID, m.Role, m.RaftAddr, m.S3Addr, m.AdminAddr, m.Version}
	if m.ClusterID != "" {
		f = append(f, m.ClusterID)
	}
	return f
}

func (m *NodeMeta) fieldPtrs() []*string {
	return []*string{&m.ID, &m.Role, &m.RaftAddr, &m.S3Addr, &m.AdminAddr, &m.Version, &m.ClusterID}
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

package gossip

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrForeignCluster is returned (wrapped with ErrJoin) by Join when the only members that
// answered belong to another cluster, and is the cause recorded in a Refusal.
var ErrForeignCluster = errors.New("gossip: member of another cluster")

// Refusal describes one contact refused because of Config.ClusterID.
type Refusal struct {
	// Outbound is true when this node made the contact (a join or re-join it dialled), false
	// when the other side did (its stream or packet arrived here, or its alive message was
	// relayed to us).
	Outbound bool
	// Addr is the peer's gossip address ("ip:port"; the ephemeral port of an inbound stream).
	Addr string
	// NodeID is the peer's node ID when known (refusals by metadata).
	NodeID string
	// ClusterID is the cluster the peer named: its label or its metadata; "" when it named
	// none (an unlabelled stream, metadata without a cluster ID or that did not decode).
	ClusterID string
	// Why is "label" (packet or stream label), "refused by peer" (the peer answered a join
	// with a refusal naming its cluster) or "metadata" (alive or push-pull state).
	Why string
}

// Cluster labels: memberlist's label header on every packet and stream.
const (
	labelPrefix = "nebulaio/"
	maxLabel    = memberlist.LabelMaxSize
	// hasLabelMsg is memberlist's message type of a label header (label.go in memberlist).
	hasLabelMsg = 244
)

func clusterLabel(id string) string {
	if id == "" {
		return ""
	}
	return labelPrefix + id
}

// The refusal frame a guard writes, in clear, on an inbound stream labelled with another
// cluster, before it closes the stream:
//
//	+------+-----+-----+-----+-----+---------+--------+-----------------------+
//	| 0xFE | 'N' | 'B' | 'I' | 'O' | version | len u8 | cluster ID (len bytes)|
//	+------+-----+-----+-----+-----+---------+--------+-----------------------+
//	version = 1
//
// 0xFE is no memberlist message type, so the dialler's guard recognises the frame in the
// first byte of the answer; memberlist itself never sees it. The frame is not authenticated
// (the two clusters share no key): it only tells the dialler which cluster it reached.
var refusalMagic = []byte{0xFE, 'N', 'B', 'I', 'O', 1}

// errRefusedByPeer is what the dialler's stream read returns after a refusal frame.
var errRefusedByPeer = fmt.Errorf("%w: refused by the peer", ErrForeignCluster)

// guardTransport wraps memberlist's transport when Config.ClusterID is set: inbound streams
// and packets whose label is not this cluster's are refused before memberlist reads them
// (streams get a refusal frame first), and outbound streams recognise a peer's refusal frame.
type guardTransport struct {
	memberlist.NodeAwareTransport
	g       *Gossip
	label   string
	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*guardTransport)(nil)

func newGuardTransport(g *Gossip, inner memberlist.NodeAwareTransport) *guardTransport {
	t := &guardTransport{NodeAwareTransport: inner, g: g, label: clusterLabel(g.cfg.ClusterID),
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), stop: make(chan struct{})}
	t.wg.Add(2)
	go t.forwardPackets()
	go t.forwardStreams()
	return t
}

func (t *guardTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *guardTransport) StreamCh() <-chan net.Conn           { return t.streams }

func (t *guardTransport) Shutdown() error {
	err := t.NodeAwareTransport.Shutdown()
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
	return err
}

func (t *guardTransport) forwardPackets() {
	defer t.wg.Done()
	for {
		select {
		case p := <-t.NodeAwareTransport.PacketCh():
			if _, label, err := memberlist.RemoveLabelHeaderFromPacket(p.Buf); err != nil || label != t.label {
				t.g.refused(Refusal{Addr: p.From.String(), ClusterID: strings.TrimPrefix(label, labelPrefix), Why: "label"})
				continue
			}
			select {
			case t.packets <- p:
			case <-t.stop:
				return
			}
		case <-t.stop:
			return
		}
	}
}

func (t *guardTransport) forwardStreams() {
	defer t.wg.Done()
	for {
		select {
		case c := <-t.NodeAwareTransport.StreamCh():
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				t.checkStream(c)
			}()
		case <-t.stop:
			return
		}
	}
}

// checkStream reads an inbound stream's label (bounded by TCPTimeout) and hands the stream,
// label included, to memberlist; another cluster's stream gets a refusal frame and is closed.
func (t *guardTransport) checkStream(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(t.g.cfg.TCPTimeout))
	br := bufio.NewReaderSize(c, 2+maxLabel)
	label, err := peekLabel(br)
	if err != nil {
		_ = c.Close() // nothing readable: not a member either way
		return
	}
	if label != t.label {
		t.g.refused(Refusal{Addr: c.RemoteAddr().String(), ClusterID: strings.TrimPrefix(label, labelPrefix), Why: "label"})
		_ = c.SetWriteDeadline(time.Now().Add(t.g.cfg.TCPTimeout))
		frame := append(append([]byte(nil), refusalMagic...), byte(len(t.g.cfg.ClusterID)))
		_, _ = c.Write(append(frame, t.g.cfg.ClusterID...))
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	select {
	case t.streams <- &bufferedConn{Conn: c, r: br}:
	case <-t.stop:
		_ = c.Close()
	}
}

// peekLabel returns the label of a stream without consuming it ("" when it has none).
func peekLabel(br *bufio.Reader) (string, error) {
	b, err := br.Peek(1)
	if err != nil {
		return "", err
	}
	if b[0] != hasLabelMsg {
		return "", nil
	}
	if b, err = br.Peek(2); err != nil {
		return "", err
	}
	n := int(b[1])
	if b, err = br.Peek(2 + n); err != nil {
		return "", err
	}
	return string(b[2:]), nil
}

// bufferedConn is a stream whose first bytes were peeked: reads drain the buffer first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (t *guardTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := t.NodeAwareTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c, t: t, addr: addr, r: bufio.NewReader(c)}, nil
}

func (t *guardTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// watchedConn is an outbound stream whose answer may be a peer's refusal frame.
type watchedConn struct {
	net.Conn
	t       *guardTransport
	addr    string
	r       *bufio.Reader
	checked bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	if !c.checked {
		c.checked = true
		if b, err := c.r.Peek(1); err == nil && b[0] == refusalMagic[0] {
			theirs, err := readRefusal(c.r)
			if err != nil {
				return 0, err
			}
			c.t.g.refused(Refusal{Outbound: true, Addr: c.addr, ClusterID: theirs, Why: "refused by peer"})
			return 0, fmt.Errorf("%w (cluster %q at %s)", errRefusedByPeer, theirs, c.addr)
		}
	}
	return c.r.Read(p)
}

// readRefusal reads a refusal frame and returns the cluster ID it names.
func readRefusal(r *bufio.Reader) (string, error) {
	hdr := make([]byte, len(refusalMagic)+1)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return "", fmt.Errorf("%w: truncated refusal frame: %v", ErrForeignCluster, err)
	}
	if string(hdr[:len(refusalMagic)]) != string(refusalMagic) {
		return "", fmt.Errorf("%w: unknown answer %x", ErrForeignCluster, hdr)
	}
	id := make([]byte, hdr[len(refusalMagic)])
	if _, err := io.ReadFull(r, id); err != nil {
		return "", fmt.Errorf("%w: truncated refusal frame: %v", ErrForeignCluster, err)
	}
	return string(id), nil
}

// --- metadata veto: memberlist's alive and merge delegates ---

// checkMeta returns nil when a node's metadata names this node's cluster, else the refusal.
func (g *Gossip) checkMeta(n *memberlist.Node) *Refusal {
	meta, _, err := decodeMeta(n.Meta)
	if err == nil && meta.ClusterID == g.cfg.ClusterID {
		return nil
	}
	return &Refusal{Addr: n.Address(), NodeID: n.Name, ClusterID: meta.ClusterID, Why: "metadata"}
}

// NotifyAlive vetoes an alive message about a node of another cluster: memberlist then
// ignores the message (the node is never added, probed or listed).
func (d *delegate) NotifyAlive(n *memberlist.Node) error {
	if r := d.g.checkMeta(n); r != nil {
		d.g.refused(*r)
		return fmt.Errorf("%w: %s names cluster %q", ErrForeignCluster, n.Name, r.ClusterID)
	}
	return nil
}

// NotifyMerge cancels a join's state exchange as a whole when the other side knows any node
// of another cluster: nothing of it is merged.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if r := d.g.checkMeta(n); r != nil {
			d.g.refused(*r)
			return fmt.Errorf("%w: %s names cluster %q", ErrForeignCluster, n.Name, r.ClusterID)
		}
	}
	return nil
}

// refused reports a refusal to Config.OnRefused and remembers that one happened (Join uses
// it to say why it failed).
func (g *Gossip) refused(r Refusal) {
	g.foreign.Add(1)
	if r.Outbound {
		g.lastForeign.Store(&r)
	}
	if g.cfg.OnRefused != nil {
		g.cfg.OnRefused(r)
	}
}

// foreignSince returns the newest outbound refusal if any refusal happened after the count
// was mark.
func (g *Gossip) foreignSince(mark uint64) (*Refusal, bool) {
	if g.foreign.Load() == mark {
		return nil, false
	}
	return g.lastForeign.Load(), true
}

// foreignCounter is embedded in Gossip: how many refusals happened, and the newest outbound one.
type foreignCounter struct {
	foreign     atomic.Uint64
	lastForeign atomic.Pointer[Refusal]
}

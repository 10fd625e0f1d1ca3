package gossip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/nebulaio/nebulaio/internal/metrics"
	"github.com/rs/zerolog"
)

// Errors returned by Gossip's methods.
var (
	// ErrClosed is returned by Join, UpdateMeta and Leave after Shutdown (or Close).
	ErrClosed = errors.New("gossip: closed")
	// ErrLeft is returned by Join and UpdateMeta after Leave.
	ErrLeft = errors.New("gossip: left the cluster")
	// ErrJoin is returned (wrapping memberlist's reason) when Join reached none of the addresses.
	ErrJoin = errors.New("gossip: join failed")
	// ErrTimeout is returned by UpdateMeta and Leave when their broadcast did not go out within
	// Config.BroadcastTimeout (or the given timeout). The local change is made all the same and
	// reaches the other members through later gossip and push-pull.
	ErrTimeout = errors.New("gossip: broadcast timed out")
)

// Gossip is one node's membership in the gossip cluster. It is safe for concurrent use.
type Gossip struct {
	cfg      Config
	log      zerolog.Logger
	metrics  Metrics
	instance uint64 // random per process; carried in the metadata to tell restarts apart

	ml             atomic.Pointer[memberlist.Memberlist] // set once, right after memberlist.Create
	localMeta      atomic.Pointer[[]byte]                // encoded NodeMeta served to memberlist
	bcast          *memberlist.TransmitLimitedQueue      // our own user broadcasts (leave intents)
	addr           string                                // advertised gossip address; set in New
	faults         *faultTransport                       // in memberlist's transport when Config.Faults is set
	netTr          memberlist.Transport                  // the transport we made for memberlist, if any
	foreignCounter                                       // refusals caused by Config.ClusterID (guard.go)

	// mu guards the fields below. It is taken inside memberlist's callbacks (which run under
	// memberlist's node lock), so it is never held while calling into memberlist.
	mu        sync.Mutex
	members   map[string]*Member // last known state per node ID, dead and left ones included
	instances map[string]uint64  // instance nonce of each member's current metadata
	intents   map[string]uint64  // leave intents received: node ID -> instance nonce
	events    chan Event         // closed (and eventsOK false) by Shutdown
	eventsOK  bool
	dropped   uint64 // events dropped since the last delivered one
	leaving   bool   // local Leave has started

	// lifeMu orders Leave and Shutdown (write lock) after Join and UpdateMeta (read lock), so
	// memberlist is never used after its Shutdown. left and shut are guarded by it.
	lifeMu sync.RWMutex
	left   bool
	shut   bool

	stop     chan struct{} // closed by Shutdown; stops the background goroutine
	stopOnce sync.Once
	conflict chan struct{} // capacity 1: another member holds a stale address of this node
	wg       sync.WaitGroup
}

// New starts a gossip member: it binds BindAddr (TCP and UDP), announces itself with cfg.Meta and,
// when cfg.JoinAddresses is not empty, joins them in the background (see Config.JoinAddresses).
func New(cfg Config) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.JoinAddresses = append([]string(nil), cfg.JoinAddresses...)
	g := &Gossip{
		cfg:       cfg,
		log:       cfg.Logger.With().Str("component", "gossip").Str("node", cfg.NodeID).Logger(),
		metrics:   cfg.Metrics,
		members:   make(map[string]*Member),
		instances: make(map[string]uint64),
		intents:   make(map[string]uint64),
		events:    make(chan Event, cfg.EventBuffer),
		eventsOK:  true,
		stop:      make(chan struct{}),
		conflict:  make(chan struct{}, 1),
	}
	if g.metrics == nil {
		g.metrics = metrics.Nop{}
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("gossip: instance nonce: %w", err)
	}
	g.instance = binary.BigEndian.Uint64(nonce[:])
	meta, err := encodeMeta(cfg.Meta, g.instance)
	if err != nil {
		return nil, err
	}
	g.localMeta.Store(&meta)
	g.bcast = &memberlist.TransmitLimitedQueue{
		NumNodes: func() int {
			if ml := g.ml.Load(); ml != nil {
				return ml.NumMembers()
			}
			return 1
		},
		RetransmitMult: 4,
	}

	mlc, err := g.memberlistConfig()
	if err != nil {
		return nil, err
	}
	ml, err := memberlist.Create(mlc)
	if err != nil {
		if g.netTr != nil {
			_ = g.netTr.Shutdown()
		}
		return nil, fmt.Errorf("gossip: start memberlist on %s: %w", cfg.BindAddr, err)
	}
	g.ml.Store(ml)
	g.addr = ml.LocalNode().Address()
	if g.faults != nil {
		g.faults.self.Store(&g.addr)
	}
	g.log.Info().Str("addr", g.addr).Strs("join", cfg.JoinAddresses).Bool("encrypted", cfg.SecretKey != nil).
		Str("cluster", cfg.ClusterID).Msg("gossip started")

	g.wg.Add(1)
	go g.run()
	return g, nil
}

// memberlistConfig maps Config onto memberlist's LAN defaults.
func (g *Gossip) memberlistConfig() (*memberlist.Config, error) {
	cfg := g.cfg
	c := memberlist.DefaultLANConfig()
	c.Name = cfg.NodeID
	bindHost, bindPort, _ := splitHostPort(cfg.BindAddr, true)
	if bindHost == "" {
		bindHost = "0.0.0.0"
	}
	c.BindAddr, c.BindPort = bindHost, bindPort
	c.AdvertiseAddr, c.AdvertisePort = "", bindPort
	if cfg.AdvertiseAddr != "" {
		host, port, _ := splitHostPort(cfg.AdvertiseAddr, false)
		ip, err := resolveIP(host, cfg.TCPTimeout)
		if err != nil {
			return nil, fmt.Errorf("%w: AdvertiseAddr: %v", ErrConfig, err)
		}
		c.AdvertiseAddr = ip
		if port > 0 {
			c.AdvertisePort = port
		}
	} else if ip := net.ParseIP(bindHost); ip != nil && !ip.IsUnspecified() {
		c.AdvertiseAddr = bindHost
	}
	c.ProbeInterval = cfg.ProbeInterval
	c.ProbeTimeout = cfg.ProbeTimeout
	c.SuspicionMult = cfg.SuspicionMult
	c.SuspicionMaxTimeoutMult = cfg.SuspicionMaxTimeoutMult
	c.GossipInterval = cfg.GossipInterval
	c.PushPullInterval = cfg.PushPullInterval
	c.TCPTimeout = cfg.TCPTimeout
	// A node ID is unique and stable, so a dead member that reappears at another address is that
	// node restarted elsewhere: let it take its name back at once (see doc.go, "Restarts").
	c.DeadNodeReclaimTime = time.Nanosecond
	if cfg.SecretKey != nil {
		c.SecretKey = append([]byte(nil), cfg.SecretKey...)
	}
	d := &delegate{g: g}
	c.Delegate = d
	c.Events = d
	c.Conflict = d
	c.Logger = log.New(mlLogWriter{g.log}, "", 0)
	if cfg.Faults == nil && cfg.ClusterID == "" {
		return c, nil // memberlist's own transport
	}
	nt, err := newNetTransport(bindHost, bindPort, c.Logger)
	if err != nil {
		return nil, fmt.Errorf("gossip: start memberlist on %s: %w", cfg.BindAddr, err)
	}
	if bindPort == 0 {
		c.BindPort = nt.GetAutoBindPort()
		if c.AdvertisePort == 0 {
			c.AdvertisePort = c.BindPort
		}
	}
	var tr memberlist.NodeAwareTransport = nt
	if cfg.Faults != nil {
		g.faults = newFaultTransport(cfg.Faults, nt)
		tr = g.faults
	}
	if cfg.ClusterID != "" {
		// doc.go, "Cluster identity": the label gate, then the metadata veto.
		c.Label = clusterLabel(cfg.ClusterID)
		tr = newGuardTransport(g, tr)
		c.Alive = d
		c.Merge = d
	}
	c.Transport = tr
	g.netTr = tr
	return c, nil
}

// resolveIP returns host itself when it is an IP, else its first IPv4 (or any) address.
func resolveIP(host string, timeout time.Duration) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP.String(), nil
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("%s: no addresses", host)
	}
	return addrs[0].IP.String(), nil
}

// FailureDetectionBound is Config.FailureDetectionBound of this member's configuration.
func (g *Gossip) FailureDetectionBound(members int) time.Duration {
	return g.cfg.FailureDetectionBound(members)
}

// LocalID returns this node's ID (Config.NodeID).
func (g *Gossip) LocalID() string { return g.cfg.NodeID }

// Addr returns the gossip address ("ip:port") this node advertises; with a BindAddr port of 0
// it carries the port the OS chose.
func (g *Gossip) Addr() string { return g.addr }

// Members returns every member this node has seen, itself included, sorted by ID: alive ones and
// the last known state of dead and left ones (memberlist forgets those after a while; this list
// does not, until Forget). The slice is a copy.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	out := make([]Member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, *m)
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Member returns the last known state of one member.
func (g *Gossip) Member(id string) (Member, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.members[id]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// Forget drops the record of a dead or left member (for example once it has been removed from
// raft). It reports whether a record was dropped; alive members are never forgotten.
func (g *Gossip) Forget(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.members[id]
	if !ok || m.State == StateAlive || m.State == StateSuspect {
		return false
	}
	delete(g.members, id)
	delete(g.instances, id)
	delete(g.intents, id)
	g.gaugesLocked()
	return true
}

// Events returns the channel of membership changes, itself included; it is closed by Shutdown.
//
// Events never block memberlist: when the channel is full the event is dropped and counted
// (nebulaio_gossip_events_dropped_total), and the next delivered event carries the number
// dropped in Event.Dropped. A consumer therefore treats events as hints: it reconciles from
// Members at start, whenever Event.Dropped is not zero, and (cheaply) on a timer, since drops
// at the end of a burst are only reported with the next event.
func (g *Gossip) Events() <-chan Event { return g.events }

// Join contacts the given gossip addresses ("host:port") and merges state with each one that
// answers. It returns how many answered. Reaching only this node itself is not joining: an
// address that resolves to this node's own is skipped, and unless some member other than this
// node is alive afterwards Join returns an error wrapping ErrJoin.
func (g *Gossip) Join(addrs []string) (int, error) {
	mark := g.foreign.Load()
	n, err := g.join(addrs)
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrLeft) {
		return 0, err
	}
	g.metrics.Counter(metricJoinAttempts, 1)
	if err == nil && !g.othersAlive() {
		err = fmt.Errorf("%w: reached no member other than this node", ErrJoin)
	}
	if err != nil {
		if r, ok := g.foreignSince(mark); ok {
			err = fmt.Errorf("%w: %w", err, foreignErr(r))
		}
		g.metrics.Counter(metricJoinFailures, 1)
		return 0, err
	}
	return n, nil
}

// foreignErr describes the newest refusal for a failed join.
func foreignErr(r *Refusal) error {
	if r == nil {
		return fmt.Errorf("%w: refused a member that answered", ErrForeignCluster)
	}
	return fmt.Errorf("%w: %s answered for cluster %q", ErrForeignCluster, r.Addr, r.ClusterID)
}

// notSelf returns addrs without those that name this node's own gossip address.
func (g *Gossip) notSelf(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if a != g.addr && resolveAddr(a, g.cfg.TCPTimeout) != g.addr {
			out = append(out, a)
		}
	}
	return out
}

// othersAlive reports whether any member other than this node is alive.
func (g *Gossip) othersAlive() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.members {
		if !m.Local && m.State == StateAlive {
			return true
		}
	}
	return false
}

// resolveAddr returns "ip:port" for a "host:port" whose host is a name (its first address),
// or addr itself when it is already an IP address or does not resolve within timeout.
func resolveAddr(addr string, timeout time.Duration) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return addr
	}
	ip, err := resolveIP(host, timeout)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(ip, port)
}

// Reach push-pulls with the member id at its last known gossip address, at once: for a caller
// that knows the member is up (it answers raft) while gossip holds it dead. It returns an
// error wrapping ErrJoin when the member is unknown or does not answer.
func (g *Gossip) Reach(id string) error {
	m, ok := g.Member(id)
	if !ok || m.Local || m.Addr == "" {
		return fmt.Errorf("%w: no gossip address known for %s", ErrJoin, id)
	}
	return g.rejoin([]string{m.Addr}, "reach "+id)
}

// UpdateMeta replaces this node's metadata and broadcasts it, waiting up to
// Config.BroadcastTimeout for the broadcast to go out (ErrTimeout otherwise; the new metadata
// still spreads). meta.ID may be empty; otherwise it must equal the node ID.
func (g *Gossip) UpdateMeta(meta NodeMeta) error {
	if meta.ID == "" {
		meta.ID = g.cfg.NodeID
	}
	if meta.ID != g.cfg.NodeID {
		return fmt.Errorf("%w: Meta.ID: %q differs from NodeID %q", ErrConfig, meta.ID, g.cfg.NodeID)
	}
	if meta.ClusterID == "" {
		meta.ClusterID = g.cfg.ClusterID
	}
	if meta.ClusterID != g.cfg.ClusterID {
		return fmt.Errorf("%w: Meta.ClusterID: %q differs from ClusterID %q", ErrConfig, meta.ClusterID, g.cfg.ClusterID)
	}
	enc, err := encodeMeta(meta, g.instance)
	if err != nil {
		return err
	}
	g.lifeMu.RLock()
	defer g.lifeMu.RUnlock()
	if g.shut {
		return ErrClosed
	}
	if g.left {
		return ErrLeft
	}
	g.localMeta.Store(&enc)
	if err := g.ml.Load().UpdateNode(g.cfg.BroadcastTimeout); err != nil {
		return fmt.Errorf("%w: update metadata: %v", ErrTimeout, err)
	}
	return nil
}

// Leave announces that this node is leaving, so that the others record it as left rather than
// dead, and waits up to timeout for the announcement to go out (ErrTimeout otherwise). The node
// keeps answering gossip until Shutdown. Calling Leave again does nothing.
func (g *Gossip) Leave(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = g.cfg.BroadcastTimeout
	}
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.shut {
		return ErrClosed
	}
	if g.left {
		return nil
	}
	g.left = true
	g.mu.Lock()
	g.leaving = true
	g.mu.Unlock()
	ml := g.ml.Load()
	deadline := time.Now().Add(timeout)

	// First our own leave intent, so that receivers can tell memberlist's "dead" (which it uses
	// for leaves too) from a failure; then memberlist's leave.
	var err error
	if ml.NumMembers() > 1 {
		b := newIntentBroadcast(g.cfg.NodeID, g.instance)
		g.bcast.QueueBroadcast(b)
		t := time.NewTimer(timeout / 2)
		select {
		case <-b.done:
		case <-t.C:
			err = fmt.Errorf("%w: leave intent", ErrTimeout)
		}
		t.Stop()
	}
	rest := time.Until(deadline)
	if rest < time.Millisecond {
		rest = time.Millisecond
	}
	if lerr := ml.Leave(rest); lerr != nil && err == nil {
		err = fmt.Errorf("%w: leave: %v", ErrTimeout, lerr)
	}
	g.log.Info().Err(err).Msg("left the gossip cluster")
	return err
}

// Shutdown stops gossiping without announcing it (the others will declare this node dead), stops
// the background joiner, closes the Events channel and waits for this package's goroutines.
// It is safe to call more than once.
func (g *Gossip) Shutdown() error {
	g.stopOnce.Do(func() { close(g.stop) })
	g.lifeMu.Lock()
	if g.shut {
		g.lifeMu.Unlock()
		return nil
	}
	g.shut = true
	err := g.ml.Load().Shutdown()
	g.lifeMu.Unlock()
	g.wg.Wait()
	g.mu.Lock()
	g.eventsOK = false
	close(g.events)
	g.mu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}

// Close is Leave(Config.BroadcastTimeout) followed by Shutdown. A Leave that timed out is
// reported, but the shutdown happens anyway.
func (g *Gossip) Close() error {
	lerr := g.Leave(g.cfg.BroadcastTimeout)
	if errors.Is(lerr, ErrClosed) {
		lerr = nil
	}
	return errors.Join(lerr, g.Shutdown())
}

// run is the background goroutine: it joins cfg.JoinAddresses with backoff, starts the
// healer, then re-joins after another member reports a stale address of this node (see
// doc.go, "Restarts").
func (g *Gossip) run() {
	defer g.wg.Done()
	if len(g.cfg.JoinAddresses) > 0 && !g.joinWithRetry(g.cfg.JoinAddresses) {
		return
	}
	g.wg.Add(1)
	go g.heal()
	every, rounds := g.conflictSchedule()
	timer := time.NewTimer(every)
	timer.Stop()
	defer timer.Stop()
	pending := 0
	for {
		select {
		case <-g.stop:
			return
		case <-g.conflict:
			// (Re)start the schedule: the stale entry may take a full suspicion to die, and
			// only a push-pull after that makes the others take the new address.
			pending = rounds
			timer.Reset(every)
			continue
		case <-timer.C:
		}
		pending--
		if addrs := g.rejoinAddrs(); len(addrs) > 0 {
			n, err := g.Join(addrs)
			g.log.Info().Err(err).Int("reached", n).Int("rounds_left", pending).
				Msg("re-joined after an address conflict")
			if errors.Is(err, ErrClosed) || errors.Is(err, ErrLeft) {
				return
			}
		}
		if pending > 0 {
			timer.Reset(every)
		}
	}
}

// heal runs every RejoinInterval (jittered): it push-pulls with the members this node holds
// dead and with the join addresses no alive member has (see doc.go, "Healing").
func (g *Gossip) heal() {
	defer g.wg.Done()
	for g.sleep(jitter(g.cfg.RejoinInterval)) {
		if addrs := g.healAddrs(); len(addrs) > 0 {
			if err := g.rejoin(addrs, "heal"); errors.Is(err, ErrClosed) || errors.Is(err, ErrLeft) {
				return
			}
		}
	}
}

// healAddrs is the gossip addresses of the members this node holds dead (not left: those said
// goodbye) and the join addresses that name neither this node nor an alive member.
func (g *Gossip) healAddrs() []string {
	alive := map[string]bool{g.addr: true}
	var addrs []string
	for _, m := range g.Members() {
		switch {
		case m.State == StateAlive:
			alive[m.Addr] = true
		case m.State == StateDead && !m.Local && m.Addr != "":
			addrs = append(addrs, m.Addr)
		}
	}
	for _, a := range g.cfg.JoinAddresses {
		if !alive[a] && !alive[resolveAddr(a, g.cfg.TCPTimeout)] {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// rejoin push-pulls with addrs. A member that was declared dead while it could not be reached
// learns so in the exchange and refutes it with a higher incarnation, but until the others
// hear that refutation they ignore its alive state at the old incarnation; so when a member
// came back, a second exchange right after the refutation settles both sides at once instead
// of a RejoinInterval later.
func (g *Gossip) rejoin(addrs []string, why string) error {
	deadBefore := g.deadCount()
	n, err := g.join(addrs)
	if err != nil {
		return err
	}
	g.metrics.Counter(metricRejoins, 1)
	if g.deadCount() < deadBefore || g.anyDeadAt(addrs) {
		if g.sleep(2 * g.cfg.GossipInterval) {
			_, _ = g.join(addrs)
		}
	}
	g.log.Info().Str("why", why).Int("reached", n).Strs("addrs", addrs).Msg("re-joined")
	return nil
}

// join push-pulls with addrs, this node's own address left out. It returns how many answered
// and an error wrapping ErrJoin when none did. Join adds the metrics and the check that
// another member is alive; re-joins call it directly.
func (g *Gossip) join(addrs []string) (int, error) {
	g.lifeMu.RLock()
	defer g.lifeMu.RUnlock()
	if g.shut {
		return 0, ErrClosed
	}
	if g.left {
		return 0, ErrLeft
	}
	others := g.notSelf(addrs)
	if len(others) == 0 {
		return 0, fmt.Errorf("%w: no address other than this node's own", ErrJoin)
	}
	n, err := g.ml.Load().Join(others)
	if n == 0 {
		return 0, fmt.Errorf("%w: %v", ErrJoin, err)
	}
	if err != nil {
		g.log.Debug().Err(err).Int("reached", n).Msg("join reached only some addresses")
	}
	return n, nil
}

func (g *Gossip) deadCount() int {
	n := 0
	for _, m := range g.Members() {
		if m.State == StateDead {
			n++
		}
	}
	return n
}

// anyDeadAt reports whether a member this node holds dead has one of addrs.
func (g *Gossip) anyDeadAt(addrs []string) bool {
	for _, m := range g.Members() {
		if m.State == StateDead && slices.Contains(addrs, m.Addr) {
			return true
		}
	}
	return false
}

// conflictSchedule returns how often and how many times to re-join after an address conflict:
// every (SuspicionMult+2) probe intervals (about when the stale entry can first be declared
// dead), enough times to outlast the longest suspicion (no confirmations, clusters up to 100
// nodes) plus the probing before it. With the defaults: every 6 s, 4 times.
func (g *Gossip) conflictSchedule() (time.Duration, int) {
	every := g.cfg.ProbeInterval * time.Duration(g.cfg.SuspicionMult+2)
	longest := g.cfg.ProbeInterval * time.Duration(2+2*g.cfg.SuspicionMult*g.cfg.SuspicionMaxTimeoutMult)
	return every, int((longest+every-1)/every) + 1
}

// joinWithRetry joins addrs, retrying with capped exponential backoff and jitter; it returns
// false when stopped first.
func (g *Gossip) joinWithRetry(addrs []string) bool {
	delay := g.cfg.JoinRetryMin
	for attempt := 1; ; attempt++ {
		n, err := g.Join(addrs)
		if err == nil {
			g.log.Info().Int("reached", n).Int("attempt", attempt).Msg("joined the gossip cluster")
			return true
		}
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrLeft) {
			return false
		}
		wait := jitter(delay)
		g.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("join failed")
		if !g.sleep(wait) {
			return false
		}
		delay = min(delay*2, g.cfg.JoinRetryMax)
	}
}

// jitter returns a duration uniformly drawn from [d/2, d].
func jitter(d time.Duration) time.Duration {
	half := d / 2
	return half + mrand.N(d-half+1)
}

// sleep waits for d and reports false if Shutdown came first.
func (g *Gossip) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.stop:
		return false
	case <-t.C:
		return true
	}
}

// rejoinAddrs is the configured join list plus every other alive member's address.
func (g *Gossip) rejoinAddrs() []string {
	addrs := append([]string(nil), g.cfg.JoinAddresses...)
	for _, m := range g.Members() {
		if !m.Local && m.State == StateAlive {
			addrs = append(addrs, m.Addr)
		}
	}
	return addrs
}

// --- memberlist callbacks (run on memberlist's goroutines, under its node lock) ---

func (g *Gossip) nodeAlive(n *memberlist.Node, isJoin bool) {
	meta, inst, err := decodeMeta(n.Meta)
	if err == nil && meta.ID != n.Name {
		err = fmt.Errorf("%w: meta ID %q differs from node name %q", ErrMetaCorrupt, meta.ID, n.Name)
	}
	if err != nil {
		g.metrics.Counter(metricMetaErrors, 1)
		g.log.Warn().Err(err).Str("member", n.Name).Msg("undecodable member metadata")
		meta, inst = NodeMeta{ID: n.Name}, 0
	}
	addr := n.Address()
	now := time.Now()

	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[n.Name]
	typ := EventUpdate
	switch {
	case m == nil:
		m = &Member{ID: n.Name, Local: n.Name == g.cfg.NodeID}
		g.members[n.Name] = m
		typ = EventJoin
	case m.State != StateAlive:
		typ = EventJoin
	case !isJoin && m.Meta == meta && m.Addr == addr:
		return // nothing this package shows has changed
	}
	if typ == EventJoin {
		m.State, m.Since = StateAlive, now
	}
	m.Meta, m.Addr = meta, addr
	if old, ok := g.instances[n.Name]; !ok || old != inst {
		delete(g.intents, n.Name) // a new process: an earlier leave intent is not about it
	}
	g.instances[n.Name] = inst
	g.emitLocked(typ, m)
	g.gaugesLocked()
}

func (g *Gossip) nodeGone(n *memberlist.Node) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[n.Name]
	if m == nil {
		// Never seen alive by us; record it anyway so that its state is known.
		m = &Member{ID: n.Name, Addr: n.Address(), Meta: NodeMeta{ID: n.Name}}
		if meta, inst, err := decodeMeta(n.Meta); err == nil && meta.ID == n.Name {
			m.Meta = meta
			g.instances[n.Name] = inst
		}
		g.members[n.Name] = m
	} else if m.State == StateDead || m.State == StateLeft {
		return
	}
	state, typ := StateDead, EventFailed
	if g.leftLocked(n.Name) {
		state, typ = StateLeft, EventLeave
	}
	m.State, m.Since = state, now
	g.emitLocked(typ, m)
	g.gaugesLocked()
}

// leftLocked reports whether a member that memberlist reports gone had announced its leave.
func (g *Gossip) leftLocked(id string) bool {
	if id == g.cfg.NodeID {
		return g.leaving
	}
	inst, ok := g.intents[id]
	return ok && inst == g.instances[id]
}

// intentReceived records a leave intent; if memberlist already reported the member gone (the
// intent and memberlist's own message may arrive in either order), it becomes left. It reports
// whether the intent was new to this node, in which case the caller passes it on: receivers
// re-gossip an intent once, so that it spreads like memberlist's own messages.
func (g *Gossip) intentReceived(id string, inst uint64) bool {
	if id == g.cfg.NodeID {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[id]
	if m == nil || g.instances[id] != inst {
		return false
	}
	if old, ok := g.intents[id]; ok && old == inst {
		return false
	}
	g.intents[id] = inst
	if m.State == StateDead {
		m.State, m.Since = StateLeft, time.Now()
		g.emitLocked(EventLeave, m)
		g.gaugesLocked()
	}
	return true
}

// emitLocked delivers an event without blocking, or drops and counts it.
func (g *Gossip) emitLocked(typ EventType, m *Member) {
	g.metrics.Counter(metricEvents, 1)
	if !g.eventsOK {
		return
	}
	ev := Event{Type: typ, Member: *m, Dropped: g.dropped}
	select {
	case g.events <- ev:
		g.dropped = 0
	default:
		g.dropped++
		g.metrics.Counter(metricEventsDropped, 1)
	}
	g.log.Debug().Str("event", typ.String()).Str("member", m.ID).Str("addr", m.Addr).Msg("membership change")
}

func (g *Gossip) gaugesLocked() {
	var alive, dead int
	for _, m := range g.members {
		switch m.State {
		case StateAlive, StateSuspect:
			alive++
		case StateDead:
			dead++
		}
	}
	g.metrics.Gauge(metricNodes, float64(alive))
	g.metrics.Gauge(metricNodesDead, float64(dead))
}

// delegate implements memberlist's delegate interfaces without exporting them on Gossip.
type delegate struct{ g *Gossip }

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate    = (*delegate)(nil)
	_ memberlist.MergeDelegate    = (*delegate)(nil)
	_ memberlist.Broadcast        = (*intentBroadcast)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte {
	meta := *d.g.localMeta.Load()
	if len(meta) > limit { // cannot happen: encodeMeta bounds it by MetaMaxSize
		return nil
	}
	return meta
}

func (d *delegate) NotifyMsg(msg []byte) {
	id, inst, err := decodeIntent(msg)
	if err != nil {
		d.g.log.Debug().Err(err).Msg("ignored gossip message")
		return
	}
	if d.g.intentReceived(id, inst) {
		d.g.bcast.QueueBroadcast(newIntentBroadcast(id, inst))
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.g.bcast.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(bool) []byte          { return nil }
func (d *delegate) MergeRemoteState([]byte, bool)   {}
func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.g.nodeAlive(n, true) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.g.nodeAlive(n, false) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.g.nodeGone(n) }
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.g.log.Warn().Str("member", existing.Name).Str("known_addr", existing.Address()).
		Str("other_addr", other.Address()).Msg("two addresses for one node ID")
	if existing.Name == d.g.cfg.NodeID {
		// Others still hold this node's previous address: re-sync once they declare it dead.
		select {
		case d.g.conflict <- struct{}{}:
		default:
		}
	}
}

// Leave intent: the only user message this package gossips.
//
//	+------+--------------+----------------+---------+
//	| 0x01 | instance u64 | uvarint length | node ID |
//	+------+--------------+----------------+---------+
const msgLeaveIntent = 0x01

func encodeIntent(id string, inst uint64) []byte {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(id))
	b = append(b, msgLeaveIntent)
	b = binary.BigEndian.AppendUint64(b, inst)
	b = binary.AppendUvarint(b, uint64(len(id)))
	return append(b, id...)
}

func decodeIntent(b []byte) (string, uint64, error) {
	if len(b) < 10 || b[0] != msgLeaveIntent {
		return "", 0, fmt.Errorf("%w: not a leave intent", ErrMetaCorrupt)
	}
	inst := binary.BigEndian.Uint64(b[1:9])
	n, k := binary.Uvarint(b[9:])
	if k <= 0 || k != uvarintLen(n) || n != uint64(len(b)-9-k) || n == 0 {
		return "", 0, fmt.Errorf("%w: leave intent length", ErrMetaCorrupt)
	}
	return string(b[9+k:]), inst, nil
}

type intentBroadcast struct {
	id   string
	msg  []byte
	done chan struct{}
	once sync.Once
}

func newIntentBroadcast(id string, inst uint64) *intentBroadcast {
	return &intentBroadcast{id: id, msg: encodeIntent(id, inst), done: make(chan struct{})}
}

func (b *intentBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*intentBroadcast)
	return ok && o.id == b.id
}
func (b *intentBroadcast) Message() []byte { return b.msg }
func (b *intentBroadcast) Finished()       { b.once.Do(func() { close(b.done) }) }

// mlLogWriter routes memberlist's log lines ("[LEVEL] memberlist: text") into zerolog at debug
// level, keeping memberlist's own level as a field.
type mlLogWriter struct{ log zerolog.Logger }

var _ io.Writer = mlLogWriter{}

func (w mlLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\r\n")
	level := ""
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			level, line = strings.ToLower(line[1:i]), strings.TrimSpace(line[i+1:])
		}
	}
	w.log.Debug().Str("memberlist_level", level).Msg(line)
	return len(p), nil
}

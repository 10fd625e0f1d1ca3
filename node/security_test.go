package node_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/dataplane/blob"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/gossip"
	"github.com/nebulaio/nebulaio/internal/testcluster"
	"github.com/nebulaio/nebulaio/internal/testutil"
	"github.com/nebulaio/nebulaio/internal/trust"
	"github.com/nebulaio/nebulaio/node"
	"github.com/nebulaio/nebulaio/transport"
)

// localBlobs lists the blob IDs node i holds.
func localBlobs(t *testing.T, c *testcluster.Cluster, i int) []string {
	t.Helper()
	var ids []string
	if err := c.MustNode(i).Blobs().List(func(e blob.Entry) error { ids = append(ids, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// intruder is a transport that is not a member of the cluster: it dials with the TLS it is
// given (none, a self-signed certificate, another cluster's) and claims the address it is
// given.
func intruder(t *testing.T, clientTLS *tls.Config, advertise string) *transport.Transport {
	t.Helper()
	tr, err := transport.New(transport.Config{BindAddr: "127.0.0.1:0", AdvertiseAddr: advertise, ClientTLS: clientTLS,
		HandshakeTimeout: 3 * time.Second, CallTimeout: 5 * time.Second, DialTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// credsOf returns the client TLS of a node id of the cluster with that identity and secret.
func credsOf(t *testing.T, tok trust.Token, id string) *trust.Creds {
	t.Helper()
	ca, err := trust.DeriveCA(tok.Secret)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := trust.NewCreds(trust.CredsConfig{Self: trust.NodeIdentity{ClusterID: tok.ClusterID, NodeID: id}, CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "n2"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// reads asks, through tr, the node at addr for the list of its blobs and for one blob's
// bytes, and returns the errors by name.
func reads(tr *transport.Transport, addr, blobID string) map[string]error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := map[string]error{}
	for _, m := range []struct{ name, header string }{{"blob.list", ""}, {"blob.get", `{"id":"` + blobID + `","len":-1}`}} {
		rc, err := tr.OpenStream(ctx, addr, m.name, []byte(m.header))
		if err == nil {
			var b []byte
			b, err = io.ReadAll(rc)
			_ = rc.Close()
			if err == nil && (len(b) == 0 || (m.name == "blob.get" && !bytes.Contains(b, []byte("payroll")))) {
				err = fmt.Errorf("unexpected answer %q", b)
			}
		}
		errs[m.name] = err
	}
	return errs
}

// attack makes, through tr, every request issue 19 saw a foreign process get away with, to
// the node at addr — reads, a proposal, a membership change, a delete of a copy, raft's
// AppendEntries and RequestVote as a leader of a far term — and returns the errors by name.
func attack(tr *transport.Transport, addr, blobID string) map[string]error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := reads(tr, addr, blobID)
	evil, _ := fsm.Encode(&fsm.CreateBucket{Name: "evil", Created: time.Now().UnixNano()})
	_, errs["propose"] = tr.Call(ctx, addr, "engine.propose", evil)
	member, _ := json.Marshal(map[string]string{"op": "add_voter", "id": "evil", "addr": tr.Addr()})
	_, errs["membership"] = tr.Call(ctx, addr, "engine.membership", member)
	_, errs["blob.delete"] = tr.Call(ctx, addr, "blob.delete", []byte(blobID))
	nt := raft.NewNetworkTransport(tr.RaftLayer(), 1, 5*time.Second, io.Discard)
	defer nt.Close()
	errs["raft.AppendEntries"] = nt.AppendEntries("evil", raft.ServerAddress(addr), appendEntries(tr.Addr(), evil), &raft.AppendEntriesResponse{})
	errs["raft.RequestVote"] = nt.RequestVote("evil", raft.ServerAddress(addr), &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("evil"), Addr: []byte(tr.Addr())},
		Term:      1 << 20, LastLogIndex: 1 << 20, LastLogTerm: 1 << 20}, &raft.RequestVoteResponse{})
	return errs
}

// appendEntries is an AppendEntries of a leader "evil" in a far term, carrying one command.
func appendEntries(from string, cmd []byte) *raft.AppendEntriesRequest {
	return &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("evil"), Addr: []byte(from)},
		Term:      1 << 20, PrevLogEntry: 0, PrevLogTerm: 0, LeaderCommitIndex: 1 << 20,
		Entries: []*raft.Log{{Index: 1, Term: 1 << 20, Type: raft.LogCommand, Data: cmd}},
	}
}

// TestRaftPortClosedToForeignProcesses is issue 19's first finding, tried the way it was
// found: processes that are not members dial the raft/RPC port of every node and try to read
// object bytes, delete copies, change raft membership, propose, and append log entries or ask
// for votes as a leader of a far term would. Whether they come in plain TCP, with a
// certificate they made themselves, with a certificate of another cluster, or with a
// certificate of this cluster's CA for node n2 while claiming n3's address, every attempt is
// refused before any handler or raft sees it, and the cluster is unchanged. A member's
// certificate, doing the same reads, gets answers: the attack paths are real.
func TestRaftPortClosedToForeignProcesses(t *testing.T) {
	// The object's bytes in a blob file, read through the data plane's RPCs below.
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Configure: func(_ int, cfg *config.Config) { noInline(cfg) }})
	leader := c.WaitForLeader()
	mkBucket(t, c, leader, "secrets")
	if err := c.PutObject(leader, "secrets", "payroll", []byte("the payroll, which no outsider may read")); err != nil {
		t.Fatal(err)
	}
	blobs := localBlobs(t, c, 0)
	if len(blobs) != 1 {
		t.Fatalf("node 0 holds %d blobs, want the object's one", len(blobs))
	}
	before := map[int]string{}
	for i := range c.Len() {
		before[i] = gaugeValue(t, c.AdminURL(i), "nebulaio_transport_refused_total")
	}

	// The control: with a member's credentials (the holder of the cluster secret) the same
	// reads get the bytes.
	member := intruder(t, credsOf(t, c.Token(), "n4").ClientTLS(), "")
	if errs := reads(member, c.MustNode(0).RaftAddr(), blobs[0]); errs["blob.get"] != nil || errs["blob.list"] != nil {
		t.Fatalf("a member's certificate could not read either: %v", errs)
	}

	other := testcluster.NewToken(t)
	intruders := map[string]*transport.Transport{
		"self-signed certificate":                intruder(t, selfSigned(t), ""),
		"another cluster's node":                 intruder(t, credsOf(t, other, "n2").ClientTLS(), ""),
		"n2's certificate claiming n3's address": intruder(t, credsOf(t, c.Token(), "n2").ClientTLS(), c.MustNode(2).RaftAddr()),
	}
	for name, tr := range intruders {
		for i := range c.Len() {
			for what, err := range attack(tr, c.MustNode(i).RaftAddr(), blobs[0]) {
				if err == nil {
					t.Errorf("%s: %s on %s succeeded", name, what, c.ID(i))
				} else if !strings.HasPrefix(what, "raft.") && !errors.Is(err, transport.ErrUnreachable) {
					t.Errorf("%s: %s on %s: %v, want ErrUnreachable (refused before anything was sent)", name, what, c.ID(i), err)
				}
			}
		}
	}
	// Plain TCP: the preamble, then a request frame or raft's own protocol, as raw bytes.
	for i := range c.Len() {
		for what, payload := range plainAttacks(t) {
			conn, err := net.DialTimeout("tcp", c.MustNode(i).RaftAddr(), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
			_, _ = conn.Write(payload)
			got, _ := io.ReadAll(conn)
			_ = conn.Close()
			if len(got) != 0 {
				t.Errorf("plain TCP %s on %s: answered %d bytes", what, c.ID(i), len(got))
			}
		}
	}

	// Nothing changed: the membership, the buckets, the object and its copy.
	for i := range c.Len() {
		e := c.MustNode(i).Engine()
		servers, err := e.Servers()
		if err != nil || len(servers) != 3 {
			t.Fatalf("%s: raft configuration %v, %v", c.ID(i), servers, err)
		}
		for _, s := range servers {
			if s.ID == "evil" {
				t.Fatalf("%s: an intruder is a raft member: %v", c.ID(i), servers)
			}
		}
		if _, err := c.MustNode(i).FSM().Bucket("evil"); err == nil {
			t.Fatalf("%s: the intruders' bucket exists", c.ID(i))
		}
		after := gaugeValue(t, c.AdminURL(i), "nebulaio_transport_refused_total")
		if b, _ := strconv.ParseFloat(before[i], 64); mustFloat(t, after) <= b {
			t.Errorf("%s: nebulaio_transport_refused_total %s -> %s: the refusals were not counted", c.ID(i), before[i], after)
		}
	}
	if got := localBlobs(t, c, 0); len(got) != 1 || got[0] != blobs[0] {
		t.Fatalf("node 0's blobs after the attacks: %v, want %v", got, blobs)
	}
	c.Verify()
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("metric value %q: %v", s, err)
	}
	return f
}

// plainAttacks are raw connections as a process without TLS would open them: the transport's
// preamble (in clear, as ours) followed by an RPC request frame, a download request, or raft's
// msgpack protocol.
func plainAttacks(t *testing.T) map[string][]byte {
	t.Helper()
	pre := func(kind byte) []byte { return append([]byte{kind, 9}, "127.0.0.1"...) }
	frame := func(typ byte, method string, body []byte) []byte {
		payload := binary.BigEndian.AppendUint32(nil, 5000)
		payload = append(payload, byte(len(method)))
		payload = append(append(payload, method...), body...)
		h := make([]byte, 17, 17+len(payload))
		h[0] = typ
		binary.BigEndian.PutUint64(h[1:9], 1)
		binary.BigEndian.PutUint32(h[9:13], uint32(len(payload)))
		crc := crc32.Update(crc32.Checksum(h[:13], crc32.MakeTable(crc32.Castagnoli)), crc32.MakeTable(crc32.Castagnoli), payload)
		binary.BigEndian.PutUint32(h[13:17], crc)
		return append(h, payload...)
	}
	evil, _ := fsm.Encode(&fsm.CreateBucket{Name: "evil"})
	var raftMsg bytes.Buffer
	raftMsg.WriteByte(1) // hashicorp/raft rpcAppendEntries; the msgpack body does not matter: TLS refuses first
	raftMsg.Write(evil)
	return map[string][]byte{
		"propose":            append(pre(0x02), frame(1, "engine.propose", evil)...),
		"blob.list":          append(pre(0x03), frame(6, "blob.list", nil)...),
		"raft.AppendEntries": append(pre(0x01), raftMsg.Bytes()...),
	}
}

// TestRogueGossipMemberNeverJoins is issue 19's second finding: a rogue node tried to join
// through gossip, was promoted to voter and served objects. A whole rogue server with a token
// of its own pointed at the cluster is refused at gossip (and says so in its readiness), is
// never listed, never added to raft, and receives no object bytes — also for writes made
// while it keeps trying. A bare gossip member that knows the cluster ID (it travels in clear)
// but not the key cannot join either.
func TestRogueGossipMemberNeverJoins(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Nodes: 3})
	leader := c.WaitForLeader()
	ours := c.Token().ClusterID

	rogueToken := testcluster.NewToken(t)
	rogue := testcluster.New(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) {
		cfg.NodeID = "rogue"
		cfg.Cluster.Bootstrap = config.BootstrapAuto // a node with join addresses and no state joins
		cfg.Cluster.JoinAddresses = []string{c.GossipAddr(0), c.GossipAddr(1)}
		cfg.Cluster.JoinToken = rogueToken.Text()
	}})
	rogue.Start(0)
	rogue.WaitOpen(0)
	testutil.WaitFor(t, 30*time.Second, "the rogue told it reached another cluster", func() error {
		code, body := adminCall(t, rogue.AdminURL(0), "GET", "/health/ready")
		if code != 503 || !strings.Contains(string(body), ours) {
			return errors.New(string(body))
		}
		return nil
	})
	if v := mustFloat(t, gaugeValue(t, c.AdminURL(0), "nebulaio_cluster_foreign_refused_total")); v < 1 {
		t.Fatalf("node 0 counted %v foreign refusals", v)
	}

	// A bare member of gossip that labels itself with the cluster ID but has no key.
	if err := bareGossipJoin(t, ours, c.GossipAddr(1)); err == nil {
		t.Fatal("a gossip member without the key joined")
	}

	// Writes go on while the rogue keeps knocking; none reaches it.
	mkBucket(t, c, leader, "docs")
	for i := range 5 {
		if err := c.PutObject(leader, "docs", "k"+strconv.Itoa(i), bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.Len() {
		for id := range nodesOf(t, c.AdminURL(i)) {
			if id != c.ID(0) && id != c.ID(1) && id != c.ID(2) {
				t.Fatalf("%s lists node %s", c.ID(i), id)
			}
		}
		for _, m := range c.MustNode(i).Gossip().Members() {
			if m.ID == "rogue" || m.ID == "bare" {
				t.Fatalf("%s's gossip lists %s", c.ID(i), m.ID)
			}
		}
	}
	if n := len(localBlobs(t, rogue, 0)); n != 0 {
		t.Fatalf("the rogue holds %d blobs", n)
	}
	if servers, _ := rogue.MustNode(0).Engine().Servers(); len(servers) != 0 {
		t.Fatalf("the rogue's raft has a configuration: %v", servers)
	}
	c.Verify()
}

// TestSplitBrainRefused is issue 16's first finding. A node started with only join_addresses
// and the token joins (bootstrap auto). A second cluster, bootstrapped apart, is then pointed at
// the first — once with its own secret, once with the first's secret copied into its
// configuration (different cluster IDs either way): it is refused at gossip and at the
// transport, both sides count and log it, its readiness names the other cluster, and both
// keep their own metadata and membership. A node of the second cluster given the first's
// token refuses to start.
func TestSplitBrainRefused(t *testing.T) {
	a := testcluster.Start(t, testcluster.Options{Nodes: 2})
	j := a.Add(func(cfg *config.Config) {
		cfg.Cluster.Bootstrap = config.BootstrapAuto
		cfg.Cluster.JoinAddresses = []string{a.GossipAddr(0)}
	})
	a.WaitFormed()
	if got := nodesOf(t, a.AdminURL(0))[a.ID(j)]; !got.InRaft || !got.Voter {
		t.Fatalf("the node started with only join_addresses and the token: %+v, want a voter", got)
	}
	aLeader := a.WaitForLeader()
	mkBucket(t, a, aLeader, "a-only")
	if err := a.PutObject(aLeader, "a-only", "k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		sameSecret bool
	}{{"own secret", false}, {"the first cluster's secret", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := testcluster.Start(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) {
				if tc.sameSecret {
					cfg.Cluster.JoinToken = ""
					cfg.Cluster.Secret = a.Token().Secret.Text()
				}
			}})
			b.WaitForLeader()
			mkBucket(t, b, 0, "b-only")
			if err := b.PutObject(0, "b-only", "k", []byte("b")); err != nil {
				t.Fatal(err)
			}
			bID := b.MustNode(0).ClusterID()
			if bID == a.Token().ClusterID {
				t.Fatal("two clusters share an ID")
			}
			// Point b at a (it keeps its state: it never bootstraps again).
			b.Stop(0)
			b.Config(0).Cluster.Bootstrap = config.BootstrapAuto
			b.Config(0).Cluster.JoinAddresses = []string{a.GossipAddr(0), a.GossipAddr(1)}
			b.Start(0)
			b.WaitOpen(0)
			testutil.WaitFor(t, 30*time.Second, "b's readiness names cluster a", func() error {
				code, body := adminCall(t, b.AdminURL(0), "GET", "/health/ready")
				if code != 200 || !strings.Contains(string(body), a.Token().ClusterID) || !strings.Contains(string(body), "warning") {
					return errors.New(string(body))
				}
				return nil
			})
			// Refused again and again (the joiner retries), never merged.
			first := mustFloat(t, gaugeValue(t, b.AdminURL(0), "nebulaio_cluster_foreign_refused_total"))
			testutil.WaitFor(t, 30*time.Second, "b refused again on retry", func() error {
				if v := mustFloat(t, gaugeValue(t, b.AdminURL(0), "nebulaio_cluster_foreign_refused_total")); v <= first {
					return errors.New("not yet")
				}
				return nil
			})
			if v := mustFloat(t, gaugeValue(t, a.AdminURL(0), "nebulaio_cluster_foreign_refused_total")); v < 1 {
				t.Fatalf("a counted %v foreign refusals", v)
			}

			// The transport: b's credentials dialling a are refused, naming both clusters.
			bCreds := credsOf(t, trust.Token{ClusterID: bID, Secret: b.MustNode(0).JoinToken().Secret}, "n1")
			_, err := intruder(t, bCreds.ClientTLS(), "").Call(context.Background(), a.MustNode(0).RaftAddr(), "engine.status", nil)
			var fe *trust.ForeignError
			if !errors.As(err, &fe) || fe.Ours != bID || fe.Theirs != a.Token().ClusterID || fe.Verified != tc.sameSecret {
				t.Fatalf("b's node dialling a: %v, want a ForeignError naming %s and %s (verified %v)", err, bID, a.Token().ClusterID, tc.sameSecret)
			}

			// Both keep their own metadata and membership.
			for i := range a.Len() {
				if got := bucketNames(t, a, i); got != "a-only" {
					t.Fatalf("a's %s lists buckets %q", a.ID(i), got)
				}
				if n := len(nodesOf(t, a.AdminURL(i))); n != 3 {
					t.Fatalf("a's %s lists %d nodes", a.ID(i), n)
				}
			}
			if got := bucketNames(t, b, 0); got != "b-only" {
				t.Fatalf("b lists buckets %q", got)
			}
			if n := len(nodesOf(t, b.AdminURL(0))); n != 1 {
				t.Fatalf("b lists %d nodes", n)
			}
			b.Verify()

			// b's node given a's token refuses to start, naming both clusters.
			b.Stop(0)
			b.Config(0).Cluster.Secret = ""
			b.Config(0).Cluster.JoinToken = a.Token().Text()
			err = startErr(t, b)
			if !errors.Is(err, trust.ErrWrongCluster) || !strings.Contains(err.Error(), bID) || !strings.Contains(err.Error(), a.Token().ClusterID) {
				t.Fatalf("b's node with a's token: %v, want ErrWrongCluster naming both clusters", err)
			}
		})
	}
	a.Verify()
}

// bucketNames lists the buckets of node i's FSM, comma-separated.
func bucketNames(t *testing.T, c *testcluster.Cluster, i int) string {
	t.Helper()
	var names []string
	for _, b := range c.MustNode(i).FSM().Buckets() {
		names = append(names, b.Name)
	}
	return strings.Join(names, ",")
}

func mkBucket(t *testing.T, c *testcluster.Cluster, i int, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.S3Client(i).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// bareGossipJoin tries to join gossip at addr as a member labelled with cluster id but
// holding no key (the ID travels in clear; the key is derived from the secret).
func bareGossipJoin(t *testing.T, id, addr string) error {
	t.Helper()
	g, err := gossip.New(gossip.Config{NodeID: "bare", BindAddr: "127.0.0.1:0", ClusterID: id,
		Meta: gossip.NodeMeta{RaftAddr: "127.0.0.1:1"}, TCPTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown()
	_, err = g.Join([]string{addr})
	return err
}

// startErr opens node 0 of c with its configuration directly and returns the error Open
// fails with (a node that starts is closed again and fails the test).
func startErr(t *testing.T, c *testcluster.Cluster) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Open(ctx, *c.Config(0), node.Options{})
	if err == nil {
		_ = n.Close(ctx)
		t.Fatal("the node started")
	}
	return err
}

// TestJoinWithoutTokenFails: a node that would join (join addresses, no state) but has no
// token refuses to start, saying what to set and where to get it.
func TestJoinWithoutTokenFails(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Nodes: 1, Configure: func(_ int, cfg *config.Config) {
		cfg.Cluster.Bootstrap = config.BootstrapAuto
		cfg.Cluster.JoinAddresses = []string{"127.0.0.1:1"}
		cfg.Cluster.JoinToken = ""
	}})
	err := startErr(t, c)
	if !errors.Is(err, trust.ErrNoToken) || !strings.Contains(err.Error(), "cluster.join_token") || !strings.Contains(err.Error(), "nebulaio cluster token") {
		t.Fatalf("join without a token: %v", err)
	}
}

// TestClusterIDInReplicatedState: the cluster ID is written once into replicated state; a node
// whose identity file was replaced by another cluster's (its raft state still the first
// cluster's) is not ready, and says why.
func TestClusterIDInReplicatedState(t *testing.T) {
	c := solo(t, nil)
	want := c.Token().ClusterID
	testutil.WaitFor(t, 20*time.Second, "cluster.id in replicated state", func() error {
		if v, ok := c.MustNode(0).FSM().Setting(fsm.SettingClusterID); !ok || v != want {
			return errors.New("not yet: " + v)
		}
		return nil
	})
	c.Stop(0)
	other := testcluster.NewToken(t)
	if err := trust.SaveIdentity(nil, c.Config(0).DataDir, trust.Identity{ClusterID: other.ClusterID, Secret: other.Secret}); err != nil {
		t.Fatal(err)
	}
	c.Config(0).Cluster.JoinToken = ""
	c.Start(0)
	c.WaitOpen(0)
	testutil.WaitFor(t, 20*time.Second, "not ready, naming both clusters", func() error {
		code, body := adminCall(t, c.AdminURL(0), "GET", "/health/ready")
		if code != 503 || !strings.Contains(string(body), want) || !strings.Contains(string(body), other.ClusterID) {
			return errors.New(string(body))
		}
		return nil
	})
}

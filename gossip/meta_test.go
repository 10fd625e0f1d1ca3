package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
	"github.com/nebulaio/nebulaio/internal/metrics"
)

func TestMetaRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		meta NodeMeta
		inst uint64
	}{
		{"empty", NodeMeta{}, 0},
		{"id only", NodeMeta{ID: "n1"}, 1},
		{"full", NodeMeta{ID: "node-1", Role: "storage", Voter: true, RaftAddr: "10.0.1.10:9003",
			S3Addr: "10.0.1.10:9000", AdminAddr: "10.0.1.10:9001", Version: "v0.1.0"}, 0xdeadbeefcafef00d},
		{"non-voter unicode", NodeMeta{ID: "nœud-ü", Role: "management", Version: "β"}, 7},
		{"long field needs 2-byte length", NodeMeta{ID: "n", Version: strings.Repeat("v", 200)}, 9},
		{"cluster ID (version 2)", NodeMeta{ID: "node-1", Role: "hybrid", RaftAddr: "h:1", ClusterID: "3f9a1c0e5b7d2a4f"}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := encodeMeta(tc.meta, tc.inst)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if len(enc) > MetaMaxSize {
				t.Fatalf("encoded %d bytes > %d", len(enc), MetaMaxSize)
			}
			got, inst, err := decodeMeta(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got != tc.meta || inst != tc.inst {
				t.Fatalf("round trip: got %+v/%x, want %+v/%x", got, inst, tc.meta, tc.inst)
			}
		})
	}
}

func TestEncodeMetaTooLarge(t *testing.T) {
	// Header 10 + six one-byte lengths... the largest Version that fits exactly:
	base := NodeMeta{ID: "n"}
	fixed := metaHeaderSize + 2 /*ID*/ + 4 /*empty fields*/ + 2 /*Version 2-byte length*/
	fit := base
	fit.Version = strings.Repeat("x", MetaMaxSize-fixed)
	enc, err := encodeMeta(fit, 1)
	if err != nil || len(enc) != MetaMaxSize {
		t.Fatalf("exactly %d bytes: len %d err %v", MetaMaxSize, len(enc), err)
	}
	over := base
	over.Version = fit.Version + "x"
	if _, err := encodeMeta(over, 1); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("one byte over: err %v, want ErrMetaTooLarge", err)
	}
	if err := (Config{NodeID: "n", Meta: over}).Validate(); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("Validate with oversized meta: %v", err)
	}
}

func TestDecodeMetaDamage(t *testing.T) {
	good, err := encodeMeta(NodeMeta{ID: "node-1", Role: "hybrid", Voter: true, RaftAddr: "h:1",
		S3Addr: "h:2", AdminAddr: "h:3", Version: "v1"}, 42)
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"nil", nil, ErrMetaCorrupt},
		{"version 0", mut(func(b []byte) []byte { b[0] = 0; return b }), ErrMetaVersion},
		{"version 3", mut(func(b []byte) []byte { b[0] = 3; return b }), ErrMetaVersion},
		{"version 2 without its cluster ID", mut(func(b []byte) []byte { b[0] = 2; return b }), ErrMetaCorrupt},
		{"version 2 with an empty cluster ID", append(mut(func(b []byte) []byte { b[0] = 2; return b }), 0), ErrMetaCorrupt},
		{"reserved flag", mut(func(b []byte) []byte { b[1] |= 0x80; return b }), ErrMetaCorrupt},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMetaCorrupt},
		{"length past end", mut(func(b []byte) []byte { b[metaHeaderSize] = 0x7f; return b }), ErrMetaCorrupt},
		{"non-minimal length", append(append(bytes.Clone(good[:metaHeaderSize]), 0x80, 0x00), good[metaHeaderSize+1+6:]...), ErrMetaCorrupt},
		{"unterminated varint", append(bytes.Clone(good[:metaHeaderSize]), 0xff, 0xff), ErrMetaCorrupt},
		{"invalid utf-8", mut(func(b []byte) []byte { b[metaHeaderSize+1] = 0xff; return b }), ErrMetaCorrupt},
		{"too large", append(bytes.Clone(good), make([]byte, MetaMaxSize)...), ErrMetaCorrupt},
	}
	// Every truncation of a valid record is an error, never a shorter valid record.
	for i := range len(good) {
		cases = append(cases, struct {
			name string
			in   []byte
			want error
		}{fmt.Sprintf("cut at %d", i), good[:i], nil})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeMeta(tc.in)
			if err == nil {
				t.Fatalf("decoded damaged input %x", tc.in)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if !errors.Is(err, ErrMetaCorrupt) && !errors.Is(err, ErrMetaVersion) {
				t.Fatalf("err %v is neither ErrMetaCorrupt nor ErrMetaVersion", err)
			}
		})
	}
}

func TestIntentCodec(t *testing.T) {
	b := encodeIntent("node-7", 99)
	id, inst, err := decodeIntent(b)
	if err != nil || id != "node-7" || inst != 99 {
		t.Fatalf("round trip: %q %d %v", id, inst, err)
	}
	for i := range len(b) {
		if _, _, err := decodeIntent(b[:i]); err == nil {
			t.Fatalf("truncated intent at %d decoded", i)
		}
	}
	if _, _, err := decodeIntent(append(bytes.Clone(b), 'x')); err == nil {
		t.Fatal("intent with a trailing byte decoded")
	}
}

// FuzzDecodeMeta: decoding never panics, and whatever decodes re-encodes to the same bytes.
func FuzzDecodeMeta(f *testing.F) {
	seed, _ := encodeMeta(NodeMeta{ID: "n1", Role: "storage", Voter: true, RaftAddr: "a:1"}, 5)
	f.Add(seed)
	seed, _ = encodeMeta(NodeMeta{ID: "n1", Role: "storage", RaftAddr: "a:1", ClusterID: "0123456789abcdef"}, 6)
	f.Add(seed)
	f.Add([]byte{metaVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, inst, err := decodeMeta(b)
		if err != nil {
			return
		}
		again, err := encodeMeta(m, inst)
		if err != nil {
			t.Fatalf("decoded meta does not re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}

func BenchmarkMeta(b *testing.B) {
	meta := NodeMeta{ID: "node-1", Role: "hybrid", Voter: true, RaftAddr: "10.0.1.10:9003",
		S3Addr: "10.0.1.10:9000", AdminAddr: "10.0.1.10:9001", Version: "v0.1.0"}
	enc, _ := encodeMeta(meta, 1)
	b.Run("op=encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := encodeMeta(meta, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, _, err := decodeMeta(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCallback measures what a membership change costs memberlist's goroutine (which holds
// its node lock meanwhile): decode the metadata, update the record, emit or drop the event.
func BenchmarkCallback(b *testing.B) {
	for _, tc := range []struct {
		name  string
		drain bool
	}{{"events=delivered", true}, {"events=dropped", false}} {
		b.Run(tc.name, func(b *testing.B) {
			g := &Gossip{
				cfg:       Config{NodeID: "local"},
				log:       testLogger(),
				metrics:   metrics.Nop{},
				members:   map[string]*Member{},
				instances: map[string]uint64{},
				intents:   map[string]uint64{},
				events:    make(chan Event, 1),
				eventsOK:  true,
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			if tc.drain {
				go func() {
					defer close(done)
					for {
						select {
						case <-stop:
							return
						case <-g.events:
						}
					}
				}()
			} else {
				g.events <- Event{} // full from the start: every event is dropped
				close(done)
			}
			nodes := make([]*memberlist.Node, 100)
			for i := range nodes {
				meta, _ := encodeMeta(NodeMeta{ID: fmt.Sprintf("node-%d", i), Role: "hybrid",
					RaftAddr: "10.0.0.1:9003", Version: "v1"}, uint64(i))
				nodes[i] = &memberlist.Node{Name: fmt.Sprintf("node-%d", i), Addr: []byte{10, 0, 0, 1},
					Port: 9004, Meta: meta}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// join, then leave: every call is a real state change with an event
				n := nodes[i%len(nodes)]
				if (i/len(nodes))%2 == 0 {
					g.nodeAlive(n, true)
				} else {
					g.nodeGone(n)
				}
				i++
			}
			close(stop)
			<-done
		})
	}
}

// FuzzDecodeIntent: never panics; what decodes re-encodes to the same bytes.
func FuzzDecodeIntent(f *testing.F) {
	f.Add(encodeIntent("node-1", 3))
	f.Add([]byte{msgLeaveIntent})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, inst, err := decodeIntent(b)
		if err != nil {
			return
		}
		if again := encodeIntent(id, inst); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}

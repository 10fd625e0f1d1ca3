package engine

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

func TestEnvelopeRoundTripAndDamage(t *testing.T) {
	cmds := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("x"), 300), encodeSet("k", "v")}
	env := encodeEnvelope(cmds)
	got, err := decodeEnvelope(env)
	if err != nil || len(got) != len(cmds) {
		t.Fatalf("decode: %d commands, %v", len(got), err)
	}
	for i := range cmds {
		if !bytes.Equal(got[i], cmds[i]) {
			t.Fatalf("command %d differs", i)
		}
	}
	for cut := len(envelopeMagic); cut < len(env); cut++ {
		if _, err := decodeEnvelope(env[:cut]); err == nil {
			t.Fatalf("envelope cut at %d of %d decoded", cut, len(env))
		}
	}
	if _, err := decodeEnvelope(append(env, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

// TestEnvelopeAppliesEachCommand: an envelope entry is applied as its commands, in order, with
// one result each; a malformed envelope reaches the FSM as one entry it rejects.
func TestEnvelopeAppliesEachCommand(t *testing.T) {
	kv := newKV()
	f := newAppliedFSM(kv)
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: encodeSet("a", "1")},
		{Index: 2, Type: raft.LogCommand, Data: encodeEnvelope([][]byte{encodeSet("a", "2"), encodeSet("b", "1"), []byte("junk")})},
		{Index: 3, Type: raft.LogCommand, Data: append(append([]byte{}, envelopeMagic...), 0xff)},
	}
	out := f.ApplyBatch(logs)
	if out[0] != "" {
		t.Fatalf("first result %v", out[0])
	}
	rs, ok := out[1].(envelopeResults)
	if !ok || len(rs) != 3 || rs[0] != "1" || rs[1] != "" || rs[2] != errBadCommand {
		t.Fatalf("envelope results %#v", out[1])
	}
	if out[2] != errBadCommand {
		t.Fatalf("malformed envelope: %v", out[2])
	}
	if v, _ := kv.get("a"); v != "2" {
		t.Fatalf("a = %q", v)
	}
	if applied, _ := f.state(); applied != 3 {
		t.Fatalf("applied %d", applied)
	}
	single := f.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: encodeEnvelope([][]byte{encodeSet("c", "1"), encodeSet("c", "2")})})
	if rs, ok := single.(envelopeResults); !ok || len(rs) != 2 || rs[1] != "1" {
		t.Fatalf("Apply of an envelope: %#v", single)
	}
}

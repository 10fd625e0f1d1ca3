package main

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checks must catch what they claim to: each case is a small history with one anomaly (or
// none), and the findings it must produce.

func put(key, version string, call, ret int64, out outcome) op {
	return op{Kind: opPut, Key: key, Version: version, Call: call, Return: ret, Outcome: out}
}

func del(key string, call, ret int64, out outcome) op {
	return op{Kind: opDel, Key: key, Call: call, Return: ret, Outcome: out}
}

func get(key, version string, call, ret int64) op {
	return op{Kind: opGet, Key: key, Version: version, Call: call, Return: ret, Outcome: ok}
}

// finals are the final reads of key from three nodes, returning versions[i] on node i.
func finals(key string, at int64, versions ...string) []op {
	var out []op
	for i, v := range versions {
		o := get(key, v, at+int64(i)*2, at+int64(i)*2+1)
		o.Node, o.Final, o.Worker = i, true, 10+i
		out = append(out, o)
	}
	return out
}

func hist(parts ...any) []op {
	var out []op
	for _, p := range parts {
		switch p := p.(type) {
		case op:
			out = append(out, p)
		case []op:
			out = append(out, p...)
		}
	}
	return out
}

func TestAnalyze(t *testing.T) {
	type want struct {
		lost, corrupt, phantom, stale int
		linear                        bool
	}
	cases := []struct {
		name string
		ops  []op
		want want
	}{
		{"clean", hist(put("u/a", "v1", 0, 10, ok), get("u/a", "v1", 20, 30), finals("u/a", 100, "v1", "v1", "v1")),
			want{linear: true}},
		{"acknowledged write missing on one node", hist(put("u/a", "v1", 0, 10, ok), finals("u/a", 100, "v1", "", "v1")),
			want{lost: 1}},
		{"corrupt bytes", hist(put("u/a", "v1", 0, 10, ok), op{Kind: opGet, Key: "u/a", Call: 20, Return: 30, Outcome: ok, Version: "v1", Corrupt: "differs at byte 7"},
			finals("u/a", 100, "v1", "v1", "v1")),
			want{corrupt: 1, linear: true}},
		{"a version never written", hist(put("u/a", "v1", 0, 10, ok), get("u/a", "v9", 20, 30), finals("u/a", 100, "v1", "v1", "v1")),
			want{corrupt: 1}},
		{"a failed write visible", hist(put("u/b", "v1", 0, 10, failed), finals("u/b", 100, "v1", "", "")),
			want{phantom: 1}},
		{"an unknown write visible everywhere", hist(put("u/c", "v1", 0, 10, unknown), finals("u/c", 100, "v1", "v1", "v1")),
			want{linear: true}},
		{"an unknown write that never happened", hist(put("u/c", "v1", 0, 10, unknown), finals("u/c", 100, "", "", "")),
			want{linear: true}},
		{"an unknown write on one node only", hist(put("u/c", "v1", 0, 10, unknown), finals("u/c", 100, "v1", "", "v1")),
			want{}},
		{"a stale read of a register", hist(put("r/x", "v1", 0, 10, ok), put("r/x", "v2", 20, 30, ok), get("r/x", "v1", 40, 50),
			finals("r/x", 100, "v2", "v2", "v2")),
			want{}},
		{"a deleted register back on one node", hist(put("r/x", "v1", 0, 10, ok), del("r/x", 20, 30, ok), finals("r/x", 100, "", "", "v1")),
			want{lost: 1}},
		{"concurrent writes: either may win", hist(put("r/x", "v1", 0, 30, ok), put("r/x", "v2", 10, 20, ok), finals("r/x", 100, "v1", "v1", "v1")),
			want{linear: true}},
		{"a final read that kept failing", hist(put("u/a", "v1", 0, 10, ok), finals("u/a", 100, "v1", "v1"),
			op{Kind: opGet, Key: "u/a", Node: 2, Final: true, Call: 110, Return: 111, Outcome: unknown, Err: "503"}),
			want{lost: 1, linear: true}},
		{"a listing without an acknowledged key", hist(put("u/a", "v1", 0, 10, ok),
			op{Kind: opList, Prefix: "u/", Call: 20, Return: 30, Outcome: ok, Listed: nil}, finals("u/a", 100, "v1", "v1", "v1")),
			want{stale: 1, linear: true}},
		{"a listing with a failed key", hist(put("u/b", "v1", 0, 10, failed),
			op{Kind: opList, Prefix: "u/", Call: 20, Return: 30, Outcome: ok, Listed: []string{"u/b"}}, finals("u/b", 100, "", "", "")),
			want{phantom: 1, linear: true}},
		{"a listing may hold a key being written", hist(put("u/d", "v1", 25, 40, ok),
			op{Kind: opList, Prefix: "u/", Call: 20, Return: 30, Outcome: ok, Listed: []string{"u/d"}}, finals("u/d", 100, "v1", "v1", "v1")),
			want{linear: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := analyze(tc.ops, 0, 100, 3, "")
			got := want{len(f.lost), len(f.corrupt), len(f.phantom), len(f.stale), f.linear == porcupine.Ok}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v\nlost %v\ncorrupt %v\nphantom %v\nstale %v\nnot linearizable %v",
					got, tc.want, f.lost, f.corrupt, f.phantom, f.stale, f.nonLin)
			}
			if !got.linear && len(f.nonLin) == 0 {
				t.Fatal("not linearizable, but no key named")
			}
		})
	}
}

func TestUnavailability(t *testing.T) {
	s := int64(time.Second)
	ops := []op{
		{Kind: opPut, Outcome: ok, Return: 1 * s}, {Kind: opPut, Outcome: failed, Return: 3 * s},
		{Kind: opGet, Outcome: ok, Return: 5 * s}, {Kind: opDel, Outcome: ok, Return: 6 * s},
		{Kind: opPut, Outcome: ok, Return: 20 * s, Final: true},
	}
	if got := unavailability(ops, 0, 10*s, false); got != 4*time.Second {
		t.Fatalf("unavailability = %s, want 4s (from 1s to 5s)", got)
	}
	if got := unavailability(ops, 0, 10*s, true); got != 5*time.Second {
		t.Fatalf("write unavailability = %s, want 5s (from 1s to 6s: the read at 5s is no write)", got)
	}
	if got := unavailability(ops[:1], 0, 10*s, false); got != 9*time.Second {
		t.Fatalf("unavailability = %s, want 9s (from the last success to the end)", got)
	}
}

func TestValues(t *testing.T) {
	for _, size := range []int{0, 10, 40, 1000, 300 << 10} {
		b := makeValue("u/w1/7", "w1-7", size)
		if v, err := checkValue("u/w1/7", b); err != nil || v != "w1-7" {
			t.Fatalf("size %d: %q, %v", size, v, err)
		}
		if size < 1000 {
			continue
		}
		b[len(b)/2] ^= 1
		if _, err := checkValue("u/w1/7", b); err == nil || !strings.Contains(err.Error(), "differs at byte") {
			t.Fatalf("size %d with a flipped byte: %v", size, err)
		}
		b[len(b)/2] ^= 1
		if _, err := checkValue("u/w1/7", b[:len(b)-1]); err == nil {
			t.Fatalf("size %d cut short: no error", size)
		}
		if _, err := checkValue("u/w1/8", b); err == nil {
			t.Fatalf("size %d read for another key: no error", size)
		}
	}
}

func TestUnknownCodes(t *testing.T) {
	ops := []op{
		{Outcome: unknown, Code: "ServiceUnavailable"}, {Outcome: unknown}, {Outcome: unknown, Code: "ServiceUnavailable"},
		{Outcome: failed, Code: "AccessDenied"}, {Outcome: unknown, Code: "InternalError", Final: true},
	}
	if got, want := unknownCodes(ops), "ServiceUnavailable×2, no answer×1"; got != want {
		t.Fatalf("unknownCodes = %q, want %q", got, want)
	}
}

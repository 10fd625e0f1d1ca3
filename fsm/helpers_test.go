package fsm

import (
	"fmt"
	"maps"

	"github.com/hashicorp/raft"
)

// tb is the part of testing.TB that *rapid.T also has.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// applier feeds events to an FSM as consecutive raft log entries.
type applier struct {
	t     tb
	f     *FSM
	index uint64
	log   [][]byte  // log[i] is the entry at index i+1
	res   []*Result // res[i] is the result of log[i]
}

func newApplier(t tb) *applier { return &applier{t: t, f: New(Options{})} }

func (a *applier) apply(ev Event) *Result {
	a.t.Helper()
	b, err := Encode(ev)
	if err != nil {
		a.t.Fatalf("Encode %s: %v", ev.Type(), err)
	}
	a.index++
	a.log = append(a.log, b)
	res, ok := a.f.Apply(&raft.Log{Index: a.index, Term: 1, Type: raft.LogCommand, Data: b}).(*Result)
	if !ok || res == nil {
		a.t.Fatalf("Apply returned %T", res)
	}
	a.res = append(a.res, res)
	return res
}

// must applies ev and fails the test if it is rejected.
func (a *applier) must(evs ...Event) {
	a.t.Helper()
	for _, ev := range evs {
		if res := a.apply(ev); res.Err != nil {
			a.t.Fatalf("%s rejected: %v", ev.Type(), res.Err)
		}
	}
}

// stateMap is every index of f as snapshot key → record encoding (the meta record
// excluded), plus the derived blob reference counts.
func stateMap(t tb, f *FSM) (map[string]string, map[string]int) {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := &fsmSnapshot{st: f.st}
	out := map[string]string{}
	err := s.writeFull(func(k string, v []byte, err error) error {
		if err != nil {
			return err
		}
		if k != metaKey {
			out[k] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("stateMap: %v", err)
	}
	return out, maps.Clone(f.refs)
}

func checkSameState(t tb, got, want *FSM) {
	t.Helper()
	gs, gr := stateMap(t, got)
	ws, wr := stateMap(t, want)
	if !maps.Equal(gs, ws) {
		t.Fatalf("state differs:\n%s", diffMaps(gs, ws))
	}
	if !maps.Equal(gr, wr) {
		t.Fatalf("blob refs differ: got %v want %v", gr, wr)
	}
	if got.AppliedIndex() != want.AppliedIndex() {
		t.Fatalf("applied index %d, want %d", got.AppliedIndex(), want.AppliedIndex())
	}
}

func diffMaps(got, want map[string]string) string {
	s := ""
	for k, v := range want {
		if g, ok := got[k]; !ok {
			s += fmt.Sprintf("missing %q\n", k)
		} else if g != v {
			s += fmt.Sprintf("differs %q\n", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			s += fmt.Sprintf("extra %q\n", k)
		}
	}
	return s
}

// checkInvariants verifies the cross-index invariants: every object and upload lives in an
// existing bucket, every part in an existing upload, and the blob reference counts equal a
// recount over objects and parts.
func checkInvariants(t tb, f *FSM) {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	refs := map[string]int{}
	f.st.objects.Ascend(func(o *ObjectInfo) bool {
		if _, ok := f.st.bucket(o.Bucket); !ok {
			t.Fatalf("object %s/%s in a missing bucket", o.Bucket, o.Key)
		}
		for _, b := range o.Blobs {
			refs[b.ID]++
		}
		return true
	})
	f.st.uploads.Ascend(func(u *UploadInfo) bool {
		if _, ok := f.st.bucket(u.Bucket); !ok {
			t.Fatalf("upload %s in a missing bucket %s", u.UploadID, u.Bucket)
		}
		return true
	})
	f.st.parts.Ascend(func(p *partRec) bool {
		if _, ok := f.st.upload(p.bucket, p.key, p.uploadID); !ok {
			t.Fatalf("part %d of a missing upload %s", p.PartNumber, p.uploadID)
		}
		for _, b := range p.Blobs {
			refs[b.ID]++
		}
		return true
	})
	if !maps.Equal(refs, f.refs) {
		t.Fatalf("blob refs %v, recount %v", f.refs, refs)
	}
}

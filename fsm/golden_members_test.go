package fsm

import (
	"errors"
	"flag"
	"path/filepath"
	"testing"
)

var updateGoldenMembers = flag.Bool("update-members", false, "write testdata/golden-full-members.snap (a new file only)")

// goldenMembersState applies a fixed history that leaves member records of every shape: a
// tombstone, a demoted member, a drain running and a drain finished next to a voter intent.
func goldenMembersState(t *testing.T) *applier {
	a := newApplier(t)
	a.must(bkt,
		&MemberChange{ID: "n2", Op: MemberRemove, At: 10},
		&MemberChange{ID: "n3", Op: MemberNonvoter, At: 11},
		&MemberChange{ID: "n4", Op: MemberDrain, At: 12},
		&MemberChange{ID: "n5", Op: MemberVoter, At: 13},
		&MemberChange{ID: "n5", Op: MemberDrain, At: 14},
		&MemberChange{ID: "n5", Op: MemberDrained, At: 15},
		&MemberChange{ID: "n6", Op: MemberDrain, At: 16},
		&MemberChange{ID: "n6", Op: MemberUndrain, At: 17}) // leaves no record
	return a
}

// TestGoldenSnapshotMembers pins the member record (0x0C) as TestGoldenSnapshot pins the
// first ones: the committed stream restores to the state the history builds, and today's
// encoder writes the same bytes.
func TestGoldenSnapshotMembers(t *testing.T) {
	g := checkGolden(t, filepath.Join("testdata", "golden-full-members.snap"), goldenMembersState(t), *updateGoldenMembers, "-update-members")
	if n := countKind(t, g, prefixMember); n != 4 {
		t.Fatalf("the golden state has %d member records, want 4", n)
	}
	want := MemberState{ID: "n5", Voter: VoterYes, VoterAt: 13, Drain: DrainDrained, DrainAt: 15}
	if got := g.Member("n5"); got != want {
		t.Fatalf("restored n5: %+v, want %+v", got, want)
	}
}

// TestMemberRecordDamage: a member record with a state out of range, or one that records
// nothing (the FSM deletes such records), is corrupt rather than read as something else.
func TestMemberRecordDamage(t *testing.T) {
	good, err := encodeMemberRecord(&MemberState{ID: "n1", Voter: VoterNo, VoterAt: 3})
	if err != nil {
		t.Fatal(err)
	}
	voterAt := 1 + 1 + len("n1") + 8 // version, id length, id, removed at
	for name, v := range map[string][]byte{
		"voter intent 3":  func() []byte { b := append([]byte(nil), good...); b[voterAt] = 3; return b }(),
		"drain state 3":   func() []byte { b := append([]byte(nil), good...); b[voterAt+9] = 3; return b }(),
		"records nothing": func() []byte { b, _ := encodeMemberRecord(&MemberState{ID: "n1"}); return b }(),
		"trailing byte":   append(append([]byte(nil), good...), 0),
	} {
		if _, err := decodeMemberRecord(v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if m, err := decodeMemberRecord(good); err != nil || m.Voter != VoterNo || m.VoterAt != 3 {
		t.Fatalf("good record: %+v %v", m, err)
	}
}

package fsm

import "fmt"

// Cluster members: what the operator decided about each node — removed (a tombstone until
// re-admitted), its voter status, its drain — as replicated state, so that every node and every
// future leader follows the same decisions (package engine's reconciler, package dataplane's
// placement). Layouts in doc.go ("Event encoding", "Snapshot key space").

// MemberOp is what a MemberChange does.
type MemberOp uint8

// Member operations. The numbers are part of the log format: never reuse or renumber one.
const (
	// MemberRemove records that the member was removed (a tombstone): the reconciler does not
	// add it back, and the node itself refuses to serve, until MemberReadmit. Removing a
	// member already removed keeps the first removal's time.
	MemberRemove MemberOp = 1
	// MemberReadmit lifts the tombstone and forgets every earlier decision about the member
	// (its configuration decides again, as for a new node). InvalidMemberState when the
	// member is not removed.
	MemberReadmit MemberOp = 2
	// MemberVoter and MemberNonvoter record the operator's promote or demote; the reconciler
	// follows it over what the member's configuration asks. InvalidMemberState on a removed
	// member.
	MemberVoter    MemberOp = 3
	MemberNonvoter MemberOp = 4
	// MemberDrain starts a drain: placement stops choosing the member and its blobs are copied
	// to other storage nodes. A member draining or drained already keeps its state.
	// InvalidMemberState on a removed member.
	MemberDrain MemberOp = 5
	// MemberDrained marks a drain finished (every blob it holds has its copies elsewhere).
	// InvalidMemberState unless the member is draining, so a drain cancelled meanwhile is
	// never marked finished.
	MemberDrained MemberOp = 6
	// MemberUndrain cancels a drain (or forgets a finished one): placement may choose the
	// member again. InvalidMemberState unless the member is draining or drained.
	MemberUndrain MemberOp = 7
)

var memberOpNames = map[MemberOp]string{
	MemberRemove: "remove", MemberReadmit: "readmit", MemberVoter: "voter", MemberNonvoter: "nonvoter",
	MemberDrain: "drain", MemberDrained: "drained", MemberUndrain: "undrain",
}

func (o MemberOp) String() string {
	if s, ok := memberOpNames[o]; ok {
		return s
	}
	return fmt.Sprintf("MemberOp(%d)", uint8(o))
}

// MemberChange records one operator decision about a cluster member (by node ID; the member
// need not be in the raft configuration). At is the proposer's clock (Unix ns) and becomes the
// time of the state it sets. Rejections: InvalidArgument (an empty or over-long ID, an unknown
// operation), InvalidMemberState (see the operations).
type MemberChange struct {
	ID string
	Op MemberOp
	At int64
}

func (*MemberChange) Type() EventType { return TypeMemberChange }

func (ev *MemberChange) encodeBody(e *encoder) {
	e.str("member id", ev.ID)
	e.u8(uint8(ev.Op))
	e.i64(ev.At)
}

func (ev *MemberChange) decodeBody(d *decoder) {
	ev.ID = d.str("member id")
	ev.Op = MemberOp(d.u8("member op"))
	ev.At = d.i64("member time")
}

// VoterIntent is the operator's decision about a member's vote.
type VoterIntent uint8

// Voter intents.
const (
	VoterByConfig VoterIntent = 0 // no decision: the member's configuration asks
	VoterYes      VoterIntent = 1 // promoted by the operator
	VoterNo       VoterIntent = 2 // demoted by the operator
)

// DrainState is where a member's drain stands.
type DrainState uint8

// Drain states.
const (
	DrainNone     DrainState = 0
	DrainDraining DrainState = 1
	DrainDrained  DrainState = 2
)

func (s DrainState) String() string {
	switch s {
	case DrainDraining:
		return "draining"
	case DrainDrained:
		return "drained"
	}
	return "none"
}

// MemberState is what the operator decided about one member. A member about which nothing is
// decided has no record (Member returns the zero state).
type MemberState struct {
	ID        string
	RemovedAt int64 // Unix ns of the removal; 0 when not removed
	Voter     VoterIntent
	VoterAt   int64 // when Voter was decided
	Drain     DrainState
	DrainAt   int64 // when the drain began (draining) or finished (drained)
}

// Removed reports whether the member is removed (until re-admitted).
func (m MemberState) Removed() bool { return m.RemovedAt != 0 }

func (m MemberState) empty() bool { return m == MemberState{ID: m.ID} }

// Member returns the recorded state of member id (the zero state, with ID set, when nothing
// is recorded).
func (f *FSM) Member(id string) MemberState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if m, ok := f.res.members.Get(&MemberState{ID: id}); ok {
		return *m
	}
	return MemberState{ID: id}
}

// Members returns every recorded member state in ID order.
func (f *FSM) Members() []MemberState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]MemberState, 0, f.res.members.Len())
	f.res.members.Ascend(func(m *MemberState) bool { out = append(out, *m); return true })
	return out
}

// CodeInvalidMemberState: a MemberChange that does not fit the member's state (re-admitting a
// member that is not removed, finishing a drain that is not running, ...).
const CodeInvalidMemberState = "InvalidMemberState"

func (f *FSM) changeMember(ev *MemberChange) *Result {
	if err := checkID("member id", ev.ID); err != nil {
		return &Result{Err: err}
	}
	cur := MemberState{ID: ev.ID}
	if m, ok := f.res.members.Get(&cur); ok {
		cur = *m
	}
	next, rej := nextMemberState(cur, ev)
	if rej != nil {
		return rej
	}
	if next.empty() {
		if cur.empty() {
			return &Result{}
		}
		f.res.members.Delete(&cur)
		f.set(memberKey(ev.ID), nil)
		return &Result{}
	}
	m := &next
	f.res.members.ReplaceOrInsert(m)
	f.set(memberKey(ev.ID), m)
	return &Result{}
}

// nextMemberState is the state ev makes of cur, or the rejection.
func nextMemberState(cur MemberState, ev *MemberChange) (MemberState, *Result) {
	bad := func(format string, args ...any) (MemberState, *Result) {
		return cur, reject(CodeInvalidMemberState, "member %q: "+format, append([]any{ev.ID}, args...)...)
	}
	next := cur
	switch ev.Op {
	case MemberRemove:
		if !cur.Removed() {
			next.RemovedAt = ev.At
		}
	case MemberReadmit:
		if !cur.Removed() {
			return bad("is not removed")
		}
		next = MemberState{ID: cur.ID}
	case MemberVoter, MemberNonvoter:
		if cur.Removed() {
			return bad("is removed; re-admit it first")
		}
		next.Voter, next.VoterAt = VoterYes, ev.At
		if ev.Op == MemberNonvoter {
			next.Voter = VoterNo
		}
	case MemberDrain:
		if cur.Removed() {
			return bad("is removed; re-admit it first")
		}
		if cur.Drain == DrainNone {
			next.Drain, next.DrainAt = DrainDraining, ev.At
		}
	case MemberDrained:
		if cur.Drain != DrainDraining {
			return bad("is not draining (%s)", cur.Drain)
		}
		next.Drain, next.DrainAt = DrainDrained, ev.At
	case MemberUndrain:
		if cur.Drain == DrainNone {
			return bad("is not draining")
		}
		next.Drain, next.DrainAt = DrainNone, 0
	default:
		return cur, reject(CodeInvalidArgument, "unknown member operation %d", uint8(ev.Op))
	}
	return next, nil
}

// Member record (0x0C, version 1): string id, i64 removed at, u8 voter intent (0..2), i64
// voter at, u8 drain state (0..2), i64 drain at.
func encodeMemberRecord(m *MemberState) ([]byte, error) {
	e := startRecord()
	e.str("member id", m.ID)
	e.i64(m.RemovedAt)
	e.u8(uint8(m.Voter))
	e.i64(m.VoterAt)
	e.u8(uint8(m.Drain))
	e.i64(m.DrainAt)
	return e.b, e.err
}

func decodeMemberRecord(v []byte) (*MemberState, error) {
	d := openRecord(v)
	m := &MemberState{ID: d.str("member id"), RemovedAt: d.i64("removed at")}
	m.Voter = VoterIntent(d.u8("voter intent"))
	m.VoterAt = d.i64("voter at")
	m.Drain = DrainState(d.u8("drain state"))
	m.DrainAt = d.i64("drain at")
	if d.err == nil && (m.Voter > VoterNo || m.Drain > DrainDrained) {
		d.fail("member %q: voter intent %d or drain state %d out of range", m.ID, m.Voter, m.Drain)
	}
	if d.err == nil && m.empty() {
		d.fail("member %q: a record that records nothing", m.ID)
	}
	return m, d.finish()
}

func lessMember(a, b *MemberState) bool { return a.ID < b.ID }

func memberKey(id string) string { return keyOf(prefixMember, id) }

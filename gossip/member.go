package gossip

import (
	"fmt"
	"time"
)

// State is the last known state of a member.
type State uint8

// Member states. Memberlist v0.7.0 does not report its internal suspect transitions, so
// Members shows a suspected member as StateAlive until it is declared dead (or refutes);
// StateSuspect is reserved for when that becomes observable.
const (
	StateAlive   State = iota + 1 // reachable and gossiping
	StateSuspect                  // suspected by failure detection (not reported yet, see above)
	StateDead                     // declared failed by failure detection
	StateLeft                     // left gracefully (Leave)
)

// String returns "alive", "suspect", "dead" or "left".
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Member is this node's view of one member, itself included.
type Member struct {
	ID    string    // node ID (memberlist name)
	Meta  NodeMeta  // last metadata seen; Meta.ID == ID
	Addr  string    // gossip address, host:port
	State State     // last known state
	Since time.Time // when State last changed, by this node's clock
	Local bool      // this node
}

// EventType says what happened to a member.
type EventType uint8

// Event types.
const (
	EventJoin   EventType = iota + 1 // member became alive: first seen, or back from dead/left
	EventUpdate                      // an alive member's metadata (or address) changed
	EventLeave                       // member left gracefully
	EventFailed                      // member declared dead by failure detection
)

// String returns "join", "update", "leave" or "failed".
func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventFailed:
		return "failed"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Event reports one membership change. Events are lossy: see Gossip.Events.
type Event struct {
	Type   EventType
	Member Member // the member's state right after the change
	// Dropped counts the events dropped (channel full) since the previous delivered event.
	// When it is not zero the consumer has missed changes and must re-sync from Members.
	Dropped uint64
}

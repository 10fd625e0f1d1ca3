package gossip_test

import (
	"fmt"
	"time"

	"github.com/nebulaio/nebulaio/gossip"
)

func Example() {
	g, err := gossip.New(gossip.Config{
		NodeID:   "node-1",
		BindAddr: "127.0.0.1:0", // production: ":9004" and an AdvertiseAddr
		Meta:     gossip.NodeMeta{Role: "hybrid", Voter: true, RaftAddr: "127.0.0.1:9003"},
		// JoinAddresses: []string{"10.0.1.10:9004"}, // empty: this node is a seed
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	for _, m := range g.Members() {
		fmt.Println(m.ID, m.State, m.Meta.Role, m.Meta.Voter, m.Local)
	}
	// Output: node-1 alive hybrid true true
}

// Consuming events: they are hints, Members is the truth (see the package doc).
func Example_events() {
	var g *gossip.Gossip // from gossip.New
	reconcile := func() {
		for _, m := range g.Members() {
			_ = m // e.g. add alive members to raft as non-voters, update changed addresses
		}
	}
	reconcile()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-g.Events():
			if !ok {
				return // Shutdown
			}
			if ev.Dropped > 0 {
				reconcile() // events were lost: start again from the full view
				continue
			}
			fmt.Println(ev.Type, ev.Member.ID, ev.Member.State)
		case <-tick.C:
			reconcile()
		}
	}
}

package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Coalescing: on the leader, proposals that arrive while earlier ones are being handed to raft
// are packed into one raft entry (an envelope), so a burst of N proposals costs raft one entry
// instead of N (one msgpack encoding, one log record, one future). The FSM still sees N events:
// appliedFSM unpacks the envelope into sub-entries that carry the envelope's index and term, and
// returns their N results as one []any that the batcher hands back one by one. Followers unpack
// the same bytes the same way, so apply stays deterministic.
//
// Envelope layout: magic "\xffNB" | version 1 | uvarint count | count × (uvarint len | bytes).
// No FSM event starts with 0xff (fsm event types are small), so the magic cannot collide.

var envelopeMagic = []byte{0xff, 'N', 'B', 1}

// maxEnvelopeItems bounds one envelope, like raft's MaxAppendEntries bounds a batch.
const maxEnvelopeItems = 256

// maxEnvelopeBytes bounds the proposals packed into one envelope: the batcher stops packing
// before a proposal that would take it past this (one proposal is at most an event's 1 MiB of
// inline bytes and its metadata, fsm.MaxInlineSize). Events carrying small objects inline (fsm,
// "Inline blobs") would otherwise make entries of up to 256 × 1 MiB, and raft bounds an
// AppendEntries by entry count only (raftMaxAppendEntries). 4 MiB keeps a round of 64 writers of
// 64 KiB objects in one envelope, so inline writes keep the group commit.
const maxEnvelopeBytes = 4 << 20

// raftMaxAppendEntries is raft's MaxAppendEntries: entries per AppendEntries RPC (and per
// FSM.ApplyBatch). With envelopes of at most maxEnvelopeBytes, one RPC to a follower catching
// up carries at most 128 MiB. It was 512 before inline objects, when an entry was a few KiB;
// with one envelope in raft at a time it never limited steady writes.
const raftMaxAppendEntries = 32

func encodeEnvelope(cmds [][]byte) []byte {
	size := len(envelopeMagic) + binary.MaxVarintLen64
	for _, c := range cmds {
		size += binary.MaxVarintLen64 + len(c)
	}
	out := append(make([]byte, 0, size), envelopeMagic...)
	out = binary.AppendUvarint(out, uint64(len(cmds)))
	for _, c := range cmds {
		out = binary.AppendUvarint(out, uint64(len(c)))
		out = append(out, c...)
	}
	return out
}

var errBadEnvelope = errors.New("engine: malformed proposal envelope")

func isEnvelope(data []byte) bool { return bytes.HasPrefix(data, envelopeMagic) }

// decodeEnvelope splits an envelope into its commands (sub-slices of data).
func decodeEnvelope(data []byte) ([][]byte, error) {
	b := data[len(envelopeMagic):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > maxEnvelopeItems {
		return nil, errBadEnvelope
	}
	b = b[k:]
	cmds := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errBadEnvelope
		}
		cmds = append(cmds, b[k:k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, errBadEnvelope
	}
	return cmds, nil
}

// envelopeResults is the response of an envelope entry: one result per packed command.
type envelopeResults []any

// expand replaces envelope entries by their sub-entries and returns, for each original entry,
// how many flat entries it became (-1: not an envelope).
func expand(logs []*raft.Log) (flat []*raft.Log, spans []int) {
	spans = make([]int, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand || !isEnvelope(l.Data) {
			flat = append(flat, l)
			spans[i] = -1
			continue
		}
		cmds, err := decodeEnvelope(l.Data)
		if err != nil {
			// Every replica rejects the same bytes the same way: the inner FSM sees one entry
			// it cannot decode and answers with its own rejection.
			flat = append(flat, l)
			spans[i] = -1
			continue
		}
		for _, c := range cmds {
			sub := *l
			sub.Data = c
			flat = append(flat, &sub)
		}
		spans[i] = len(cmds)
	}
	return flat, spans
}

// fold regroups flat results by the spans expand returned.
func fold(flatRes []any, spans []int) []any {
	out := make([]any, len(spans))
	j := 0
	for i, s := range spans {
		if s < 0 {
			out[i] = flatRes[j]
			j++
			continue
		}
		out[i] = envelopeResults(flatRes[j : j+s])
		j += s
	}
	return out
}

// pendingProposal waits in the batcher's queue.
type pendingProposal struct {
	cmd  []byte
	done chan proposalOutcome // buffered 1
}

type proposalOutcome struct {
	res any
	err error
}

// runBatcher packs queued proposals into raft entries while this node leads. It is a group
// commit: one envelope is in raft at a time, and everything that queued while it committed goes
// into the next one. (Handing each batch to raft at once and going straight back to collecting
// packed 1.0 proposal per envelope and measured slower than no coalescing at all; two envelopes
// in flight measured below one; see engine/DESIGN.md.)
func (n *Node) runBatcher() {
	defer n.wg.Done()
	idle := make(chan struct{}, 1) // holds a token while no envelope is in raft
	idle <- struct{}{}
	var carry *pendingProposal // drained but left for the next envelope (maxEnvelopeBytes)
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-n.proposals:
			case <-n.done:
				return
			}
		}
		select {
		case <-idle:
		case <-n.done:
			first.done <- proposalOutcome{err: ErrClosed}
			return
		}
		batch := []*pendingProposal{first}
		size := len(first.cmd)
	drain:
		for len(batch) < maxEnvelopeItems && size < maxEnvelopeBytes {
			select {
			case p := <-n.proposals:
				if size+len(p.cmd) > maxEnvelopeBytes {
					carry = p
					break drain
				}
				batch = append(batch, p)
				size += len(p.cmd)
			default:
				break drain
			}
		}
		var f raft.ApplyFuture
		if len(batch) == 1 {
			f = n.raft.Apply(batch[0].cmd, n.noQuorumAfter())
		} else {
			cmds := make([][]byte, len(batch))
			for i, p := range batch {
				cmds[i] = p.cmd
			}
			f = n.raft.Apply(encodeEnvelope(cmds), n.noQuorumAfter())
		}
		n.count("nebulaio_raft_proposals_total", float64(len(batch)))
		n.count("nebulaio_raft_proposal_entries_total", 1)
		n.wg.Add(1) // shutdown waits for it; runBatcher's own count is still held here
		go func() {
			defer n.wg.Done()
			n.awaitRound(f, batch, idle)
		}()
	}
}

// awaitRound hands out a round's results and then lets the batcher start the next round. raft
// resolves every future (applied, or failed when leadership is lost or raft shuts down); should
// one ever hang, the next round starts after twice the no-quorum bound anyway, so that one stuck
// future cannot stop every later write on this node. When the node closes there is no next
// round: it returns at once (raft v1.8.0 never resolves futures still queued at its shutdown).
func (n *Node) awaitRound(f raft.ApplyFuture, batch []*pendingProposal, idle chan<- struct{}) {
	delivered := make(chan struct{})
	go func() {
		deliver(f, batch)
		close(delivered)
	}()
	timer := time.NewTimer(2 * n.noQuorumAfter())
	defer timer.Stop()
	select {
	case <-delivered:
	case <-n.done:
		return
	case <-timer.C:
		n.log.Warn().Int("proposals", len(batch)).Msg("raft has not answered a round of proposals; starting the next one")
	}
	idle <- struct{}{}
}

func deliver(f raft.ApplyFuture, batch []*pendingProposal) {
	err := f.Error()
	if err != nil {
		for _, p := range batch {
			p.done <- proposalOutcome{err: err}
		}
		return
	}
	res := f.Response()
	if len(batch) == 1 {
		batch[0].done <- proposalOutcome{res: res}
		return
	}
	rs, ok := res.(envelopeResults)
	if !ok || len(rs) != len(batch) {
		err := fmt.Errorf("%w: %d proposals answered with %T", errEnvelope, len(batch), res)
		for _, p := range batch {
			p.done <- proposalOutcome{err: err}
		}
		return
	}
	for i, p := range batch {
		p.done <- proposalOutcome{res: rs[i]}
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// findings is what the checks of one run found. Each list holds one line per violation.
type findings struct {
	acked, unknown, failedOps int // operations of the run by outcome (final reads excluded)

	lost    []string // an acknowledged write missing, or replaced by an older value, on a node
	corrupt []string // bytes that are not the value written (or a version never written)
	phantom []string // a write that certainly failed is visible
	stale   []string // a listing without a key acknowledged before it started
	linear  porcupine.CheckResult
	nonLin  []string // keys whose history is not linearizable

	unavailable      time.Duration // longest stretch of the load window without a successful operation
	writeUnavailable time.Duration // the same for writes (put, multipart, delete) alone
}

// finalReads reads every key ever written through every node, after convergence, and
// records the reads in h (Final, worker numbers after the load's). A read that does not
// succeed is retried for up to 10 s; the last attempt is recorded either way.
func finalReads(clients []*s3client, h *history, firstWorker int) {
	written := map[string]bool{}
	for _, o := range h.snapshot() {
		if o.Kind.write() {
			written[o.Key] = true
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range written {
			if !yield(k) {
				return
			}
		}
	})
	type job struct {
		key string
		c   *s3client
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				h.add(finalRead(j.c, h, firstWorker+j.c.node, j.key))
			}
		}()
	}
	for _, k := range keys {
		for _, c := range clients {
			jobs <- job{k, c}
		}
	}
	close(jobs)
	wg.Wait()
}

func finalRead(c *s3client, h *history, worker int, key string) op {
	deadline := time.Now().Add(10 * time.Second)
	for {
		o := op{Worker: worker, Node: c.node, Kind: opGet, Key: key, Final: true, Call: h.now()}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		version, found, corrupt, err := c.get(ctx, key)
		cancel()
		o.Return = h.now()
		o.Outcome, o.Code = classify(err)
		if err != nil {
			o.Err = err.Error()
		}
		if found {
			o.Version = version
		}
		if corrupt != nil {
			o.Corrupt = corrupt.Error()
		}
		if o.Outcome == ok || time.Now().After(deadline) {
			return o
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// analyze checks a finished history: ops are every operation, final reads included; the load
// ran from loadStart to loadEnd (history clock) and nodes is the number of nodes.
func analyze(ops []op, loadStart, loadEnd int64, nodes int, visualize string) findings {
	var f findings
	writes := map[string][]op{} // key -> its writes (every outcome)
	for _, o := range ops {
		if o.Final {
			continue
		}
		switch o.Outcome {
		case ok:
			f.acked++
		case unknown:
			f.unknown++
		case failed:
			f.failedOps++
		}
		if o.Kind.write() {
			writes[o.Key] = append(writes[o.Key], o)
		}
	}
	f.checkReads(ops, writes)
	f.checkFinal(ops, writes, nodes)
	f.checkListings(ops, writes)
	f.linear, f.nonLin = checkLinearizable(ops, visualize)
	f.unavailable = unavailability(ops, loadStart, loadEnd, false)
	f.writeUnavailable = unavailability(ops, loadStart, loadEnd, true)
	return f
}

// checkReads: every read returned a value written to its key, intact, by a write that did not
// certainly fail.
func (f *findings) checkReads(ops []op, writes map[string][]op) {
	for _, o := range ops {
		if o.Kind != opGet || o.Outcome != ok {
			continue
		}
		where := fmt.Sprintf("%s from n%d at %s%s", o.Key, o.Node+1, at(o.Call), finalTag(o))
		if o.Corrupt != "" {
			f.corrupt = append(f.corrupt, where+": "+o.Corrupt)
			continue
		}
		if o.Version == "" {
			continue
		}
		w, found := findWrite(writes[o.Key], o.Version)
		switch {
		case !found:
			f.corrupt = append(f.corrupt, fmt.Sprintf("%s: version %s was never written to this key", where, o.Version))
		case w.Outcome == failed:
			f.phantom = append(f.phantom, fmt.Sprintf("%s: version %s, whose write failed (%s)", where, o.Version, w.Err))
		}
	}
}

func findWrite(ws []op, version string) (op, bool) {
	for _, w := range ws {
		if w.Version == version && w.Kind != opDel {
			return w, true
		}
	}
	return op{}, false
}

// checkFinal: after convergence every node serves every acknowledged write. A unique key
// written once and acknowledged must be found with its version on every node. A register
// key's last write, if acknowledged and not concurrent with any other write that may have
// taken effect, must be what every node serves (its value, or nothing after a delete); other
// register keys are left to the linearizability check. A final read that kept failing for
// 10 s after convergence counts as lost: the node cannot serve the key.
func (f *findings) checkFinal(ops []op, writes map[string][]op, nodes int) {
	final := map[string][]op{}
	for _, o := range ops {
		if o.Final {
			final[o.Key] = append(final[o.Key], o)
		}
	}
	for key, ws := range writes {
		expect, decided := expectedFinal(ws)
		reads := final[key]
		if len(reads) != nodes {
			f.lost = append(f.lost, fmt.Sprintf("%s: %d final reads, want one per node", key, len(reads)))
			continue
		}
		for _, r := range reads {
			where := fmt.Sprintf("%s from n%d (final)", key, r.Node+1)
			switch {
			case r.Outcome != ok:
				f.lost = append(f.lost, fmt.Sprintf("%s: unreadable after convergence: %s", where, r.Err))
			case !decided || r.Corrupt != "" || isPhantom(ws, r.Version):
				// left to the linearizability check, or already counted by checkReads
			case r.Version != expect:
				got, want := r.Version, expect
				if got == "" {
					got = "nothing"
				}
				if want == "" {
					want = "nothing"
				}
				f.lost = append(f.lost, fmt.Sprintf("%s: %s, want %s", where, got, want))
			}
		}
	}
}

// expectedFinal returns the value every node must serve at the end ("" for none), when the
// history decides it: the write invoked last was acknowledged and every other write that may
// have taken effect returned before it was invoked.
func expectedFinal(ws []op) (string, bool) {
	var live []op
	for _, w := range ws {
		if w.Outcome != failed {
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		return "", true // nothing may appear
	}
	last := 0
	for i, w := range live {
		if w.Call > live[last].Call {
			last = i
		}
	}
	l := live[last]
	if l.Outcome != ok {
		return "", false
	}
	for i, w := range live {
		if i != last && (w.Outcome != ok || w.Return >= l.Call) {
			return "", false
		}
	}
	if l.Kind == opDel {
		return "", true
	}
	return l.Version, true
}

// isPhantom: version is the value of a write to the key that certainly failed.
func isPhantom(ws []op, version string) bool {
	w, found := findWrite(ws, version)
	return found && w.Outcome == failed
}

// checkListings: a listing holds every unique key acknowledged before it started, and no key
// whose write certainly failed or had not started when the listing ended.
func (f *findings) checkListings(ops []op, writes map[string][]op) {
	for _, l := range ops {
		if l.Kind != opList || l.Outcome != ok {
			continue
		}
		listed := map[string]bool{}
		for _, k := range l.Listed {
			listed[k] = true
		}
		for key, ws := range writes {
			if !strings.HasPrefix(key, l.Prefix) {
				continue
			}
			var ackedBefore, mayExist bool
			var failedErr string
			for _, w := range ws {
				if w.Outcome == ok && w.Return < l.Call {
					ackedBefore = true
				}
				if w.Outcome != failed && w.Call < l.Return {
					mayExist = true
				}
				if w.Outcome == failed {
					failedErr = w.Err
				}
			}
			where := fmt.Sprintf("listing from n%d at %s", l.Node+1, at(l.Call))
			switch {
			case ackedBefore && !listed[key]:
				f.stale = append(f.stale, fmt.Sprintf("%s: lacks %s, acknowledged before it started", where, key))
			case listed[key] && !mayExist && failedErr != "":
				f.phantom = append(f.phantom, fmt.Sprintf("%s: holds %s, whose write failed (%s)", where, key, failedErr))
			case listed[key] && !mayExist:
				f.phantom = append(f.phantom, fmt.Sprintf("%s: holds %s, not yet written", where, key))
			}
		}
		for key := range listed {
			if _, ok := writes[key]; !ok {
				f.phantom = append(f.phantom, fmt.Sprintf("listing from n%d: holds %s, never written", l.Node+1, key))
			}
		}
	}
}

// unavailability is the longest stretch of [start, end] in which no operation (no write, with
// writesOnly) succeeded, measured between the responses of successful operations.
func unavailability(ops []op, start, end int64, writesOnly bool) time.Duration {
	var times []int64
	for _, o := range ops {
		if writesOnly && !o.Kind.write() {
			continue
		}
		if !o.Final && o.Outcome == ok && o.Return >= start && o.Return <= end {
			times = append(times, o.Return)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	longest, prev := int64(0), start
	for _, t := range append(times, end) {
		longest = max(longest, t-prev)
		prev = t
	}
	return time.Duration(longest)
}

func at(ns int64) string { return time.Duration(ns).Round(time.Millisecond).String() }

func finalTag(o op) string {
	if o.Final {
		return " (final)"
	}
	return ""
}

// The linearizability check: each key is a register (put sets it, delete empties it, get
// returns it), checked with porcupine per key. Writes of unknown outcome may take effect at
// any time after their call, so they return at the end of time; writes that certainly failed
// are left out (a read that sees one is reported as a phantom too); failed and corrupt reads
// observed nothing and are left out.

type regInput struct {
	kind    kind
	key     string
	version string
}

var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, o := range history {
			k := o.Input.(regInput).key
			byKey[k] = append(byKey[k], o)
		}
		out := make([][]porcupine.Operation, 0, len(byKey))
		for _, k := range slices.Sorted(mapKeys(byKey)) {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		switch in.kind {
		case opPut, opMPU:
			return true, in.version
		case opDel:
			return true, ""
		default:
			return output.(string) == state.(string), state
		}
	},
	Equal: func(a, b any) bool { return a == b },
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		switch in.kind {
		case opGet:
			if output.(string) == "" {
				return fmt.Sprintf("get(%s) -> none", in.key)
			}
			return fmt.Sprintf("get(%s) -> %s", in.key, output)
		case opDel:
			return fmt.Sprintf("del(%s)", in.key)
		default:
			return fmt.Sprintf("%s(%s, %s)", in.kind, in.key, in.version)
		}
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "none"
		}
		return state.(string)
	},
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// porcupineOps converts the history for the register model.
func porcupineOps(ops []op) []porcupine.Operation {
	var end int64
	for _, o := range ops {
		end = max(end, o.Return)
	}
	never := end + int64(time.Hour)
	var out []porcupine.Operation
	for _, o := range ops {
		switch {
		case o.Kind == opList:
			continue
		case o.Kind == opGet && (o.Outcome != ok || o.Corrupt != ""):
			continue
		case o.Kind.write() && o.Outcome == failed:
			continue
		}
		p := porcupine.Operation{ClientId: o.Worker, Input: regInput{kind: o.Kind, key: o.Key, version: o.Version},
			Call: o.Call, Return: o.Return, Output: ""}
		if o.Kind == opGet {
			p.Output = o.Version
		}
		if o.Outcome == unknown {
			p.Return = never
		}
		out = append(out, p)
	}
	return out
}

// checkLinearizable checks every key; when a key fails it writes porcupine's visualization to
// visualize (if set) and names the keys that fail.
func checkLinearizable(ops []op, visualize string) (porcupine.CheckResult, []string) {
	pops := porcupineOps(ops)
	res, info := porcupine.CheckOperationsVerbose(registerModel, pops, 2*time.Minute)
	if res == porcupine.Ok {
		return res, nil
	}
	if visualize != "" {
		if err := porcupine.VisualizePath(registerModel, info, visualize); err != nil {
			fmt.Fprintf(os.Stderr, "faults: porcupine visualization: %v\n", err)
		}
	}
	var bad []string
	for _, part := range registerModel.Partition(pops) {
		if porcupine.CheckOperationsTimeout(registerModel, part, time.Minute) != porcupine.Ok {
			bad = append(bad, part[0].Input.(regInput).key)
		}
	}
	return res, bad
}

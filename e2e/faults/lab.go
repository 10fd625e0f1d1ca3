package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// lab is the network of one run: a network namespace per node, each with one veth into a
// bridge that lives in a namespace of its own (the hub), and one veth from the host into that
// bridge, so this process reaches every node directly while the nodes reach each other only
// through the bridge. Nothing is routed through the host (whose firewall may drop forwarded
// traffic: Docker sets FORWARD to DROP), and no rule is added to the host's firewall:
// partitions are iptables rules inside a node's own namespace. Deleting the hub namespace
// destroys the host's veth with it.
//
//	host  <prefix>h 10.a.b.254 ─┐
//	                            ├─ bridge in <prefix>-hub
//	<prefix>-n1  eth0 10.a.b.1 ─┤
//	<prefix>-n2  eth0 10.a.b.2 ─┤
//	<prefix>-n3  eth0 10.a.b.3 ─┘
type lab struct {
	prefix string // names every namespace and interface of the run
	net    [2]byte
	nodes  int
}

// newLab picks a /24 in 10.0.0.0/8 that no route or address of the host overlaps.
func newLab(prefix string, nodes int) (*lab, error) {
	if len(prefix)+4 > 15 { // interface names: prefix + "n3a"/"hb", at most 15 bytes
		return nil, fmt.Errorf("lab prefix %q is too long (at most 11 bytes)", prefix)
	}
	used, err := hostNets()
	if err != nil {
		return nil, err
	}
	seed := os.Getpid()
	for i := range 4000 {
		v := (seed*7919 + i*131) % (200 * 250)
		a, b := byte(20+v/250), byte(v%250)
		cand := &net.IPNet{IP: net.IPv4(10, a, b, 0).To4(), Mask: net.CIDRMask(24, 32)}
		if !overlaps(cand, used) {
			return &lab{prefix: prefix, net: [2]byte{a, b}, nodes: nodes}, nil
		}
	}
	return nil, fmt.Errorf("no free /24 in 10.20.0.0-10.219.255.0 for the lab")
}

// hostNets lists the IPv4 networks of the host's routes and addresses.
func hostNets() ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, args := range [][]string{{"-4", "-o", "route", "show", "table", "all"}, {"-4", "-o", "addr", "show"}} {
		b, err := exec.Command("ip", args...).Output()
		if err != nil {
			return nil, fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
		}
		for _, f := range strings.Fields(string(b)) {
			if !strings.Contains(f, ".") {
				continue
			}
			if !strings.Contains(f, "/") {
				f += "/32"
			}
			if _, n, err := net.ParseCIDR(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

func overlaps(a *net.IPNet, nets []*net.IPNet) bool {
	for _, n := range nets {
		if n.Contains(a.IP) || a.Contains(n.IP) {
			return true
		}
	}
	return false
}

func (l *lab) hub() string         { return l.prefix + "-hub" }
func (l *lab) ns(i int) string     { return fmt.Sprintf("%s-n%d", l.prefix, i+1) }
func (l *lab) hostIf() string      { return l.prefix + "h" }
func (l *lab) nodeIP(i int) string { return fmt.Sprintf("10.%d.%d.%d", l.net[0], l.net[1], i+1) }
func (l *lab) hostIP() string      { return fmt.Sprintf("10.%d.%d.254", l.net[0], l.net[1]) }

// setup creates the namespaces, the bridge and the links. On error, what was made is removed.
func (l *lab) setup() (err error) {
	defer func() {
		if err != nil {
			l.teardown()
		}
	}()
	cidr := func(ip string) string { return ip + "/24" }
	steps := [][]string{
		{"netns", "add", l.hub()},
		{"-n", l.hub(), "link", "add", "br0", "type", "bridge"},
		{"-n", l.hub(), "link", "set", "br0", "up"},
		{"link", "add", l.hostIf(), "type", "veth", "peer", "name", l.prefix + "hb"},
		{"link", "set", l.prefix + "hb", "netns", l.hub()},
		{"-n", l.hub(), "link", "set", l.prefix + "hb", "master", "br0", "up"},
		{"addr", "add", cidr(l.hostIP()), "dev", l.hostIf()},
		{"link", "set", l.hostIf(), "up"},
	}
	for i := range l.nodes {
		a, b := fmt.Sprintf("%sn%da", l.prefix, i+1), fmt.Sprintf("%sn%db", l.prefix, i+1)
		steps = append(steps,
			[]string{"netns", "add", l.ns(i)},
			[]string{"link", "add", a, "type", "veth", "peer", "name", b},
			[]string{"link", "set", a, "netns", l.ns(i)},
			[]string{"link", "set", b, "netns", l.hub()},
			[]string{"-n", l.hub(), "link", "set", b, "master", "br0", "up"},
			[]string{"-n", l.ns(i), "link", "set", a, "name", "eth0"},
			[]string{"-n", l.ns(i), "addr", "add", cidr(l.nodeIP(i)), "dev", "eth0"},
			[]string{"-n", l.ns(i), "link", "set", "eth0", "up"},
			[]string{"-n", l.ns(i), "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := sh("ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// teardown kills whatever still runs in the namespaces (only this run's nodes can) and
// deletes them; the host's veth goes with the hub. Errors are reported, not returned: it runs
// on every way out.
func (l *lab) teardown() {
	for i := range l.nodes {
		ns := l.ns(i)
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	for i := range l.nodes {
		if exists(l.ns(i)) {
			if err := sh("ip", "netns", "del", l.ns(i)); err != nil {
				fmt.Fprintf(os.Stderr, "faults: teardown: %v\n", err)
			}
		}
	}
	if exists(l.hub()) {
		if err := sh("ip", "netns", "del", l.hub()); err != nil {
			fmt.Fprintf(os.Stderr, "faults: teardown: %v\n", err)
		}
	}
	_ = exec.Command("ip", "link", "del", l.hostIf()).Run() // gone with the hub already, normally
}

func exists(ns string) bool {
	_, err := os.Stat("/var/run/netns/" + ns)
	return err == nil
}

// direction of a partition, seen from the node cut off.
type direction int

const (
	both     direction = iota // nothing in, nothing out
	inbound                   // the node hears nothing from its peers; they still hear it
	outbound                  // the node's packets to its peers are dropped; it still hears them
)

func (d direction) String() string {
	return [...]string{"both ways", "inbound only", "outbound only"}[d]
}

// cut drops node i's traffic with every other node (not with this process: clients still
// reach it, as clients of a partitioned node do).
func (l *lab) cut(i int, d direction) error {
	for j := range l.nodes {
		if j == i {
			continue
		}
		if d == both || d == inbound {
			if err := sh("ip", "netns", "exec", l.ns(i), "iptables", "-A", "INPUT", "-s", l.nodeIP(j), "-j", "DROP"); err != nil {
				return err
			}
		}
		if d == both || d == outbound {
			if err := sh("ip", "netns", "exec", l.ns(i), "iptables", "-A", "OUTPUT", "-d", l.nodeIP(j), "-j", "DROP"); err != nil {
				return err
			}
		}
	}
	return nil
}

// mend removes node i's partition rules.
func (l *lab) mend(i int) error {
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		if err := sh("ip", "netns", "exec", l.ns(i), "iptables", "-F", chain); err != nil {
			return err
		}
	}
	return nil
}

// command returns cmd to be run in node i's namespace. `ip netns exec` execs the program, so
// the process started is the program itself (signals reach it directly).
func (l *lab) command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.ns(i), name}, args...)...)
}

// run runs a command and returns its output in the error.
func sh(name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

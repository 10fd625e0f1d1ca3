package main

import (
	"syscall"
	"testing"
	"time"
)

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSampleCPUCountsThisProcessGroup: CPU this test process burns (it is in its own process
// group's count) shows in the "ours" share of the samples, and the machine's busy time is at
// least that.
func TestSampleCPUCountsThisProcessGroup(t *testing.T) {
	a := sampleCPU()
	if !a.ok {
		t.Fatal("cannot read /proc on this machine")
	}
	start := cpuTime(t)
	x := 0
	for cpuTime(t)-start < 200*time.Millisecond {
		for i := range 100000 {
			x += i
		}
	}
	b := sampleCPU()
	if got := b.ours - a.ours; got < 0.15 {
		t.Fatalf("this process group's CPU grew by %.2f s over a burn of 0.2 s (x=%d)", got, x)
	}
	if b.machine-a.machine < b.ours-a.ours-0.02 {
		t.Fatalf("machine busy grew by %.2f s, less than this group's %.2f s", b.machine-a.machine, b.ours-a.ours)
	}
	ours, others := coresBetween(a, b)
	if ours <= 0 || others < 0 {
		t.Fatalf("cores: ours %.2f, others %.2f", ours, others)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the unit of CPU times in /proc (USER_HZ, 100 on every Linux architecture's
// user-space ABI).
const clockTicks = 100

// cpuSample is the machine's busy CPU time and that of the processes of this process group (the
// benchmark: bench-s3.sh starts the servers and s3load in one group), in seconds, at one instant.
type cpuSample struct {
	at            time.Time
	machine, ours float64
	ok            bool
}

// sampleCPU reads /proc; ok is false where it cannot (not Linux).
func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	// user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		s.machine += n / clockTicks
	}
	pgrp := syscall.Getpgrp()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ... utime stime: comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 13 {
			continue
		}
		if g, _ := strconv.Atoi(fields[2]); g != pgrp {
			continue
		}
		ut, _ := strconv.ParseFloat(fields[11], 64)
		st, _ := strconv.ParseFloat(fields[12], 64)
		s.ours += (ut + st) / clockTicks
	}
	s.ok = true
	return s
}

// coresBetween returns the CPU cores used on average between two samples by this benchmark's
// processes and by everything else on the machine; -1, -1 when unknown.
func coresBetween(a, b cpuSample) (ours, others float64) {
	secs := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || secs <= 0 {
		return -1, -1
	}
	ours = (b.ours - a.ours) / secs
	others = max(0, (b.machine-a.machine)/secs-ours)
	return ours, others
}

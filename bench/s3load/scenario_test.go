package main

import (
	"errors"
	"testing"
)

func TestParseScenario(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Scenario
	}{
		{"put:4KiB:64", Scenario{Op: "put", Size: 4 << 10, Workers: 64}},
		{"get:1MiB:4", Scenario{Op: "get", Size: 1 << 20, Workers: 4}},
		{"mix70:4KiB:16", Scenario{Op: "mix", GetPct: 70, Size: 4 << 10, Workers: 16}},
		{"put:100:1", Scenario{Op: "put", Size: 100, Workers: 1}},
		{"get:2GiB:1", Scenario{Op: "get", Size: 2 << 30, Workers: 1}},
	} {
		got, err := ParseScenario(tc.name)
		if err != nil || got != tc.want {
			t.Errorf("ParseScenario(%q) = %+v, %v; want %+v", tc.name, got, err, tc.want)
			continue
		}
		if got.String() != tc.name {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tc.name)
		}
	}
	for _, bad := range []string{"", "put:4KiB", "del:4KiB:4", "put:4KB:4", "put:0:4", "put:-1:4", "put:4KiB:0", "put:4KiB:x", "mix:4KiB:4", "mix101:4KiB:4", "put:4KiB:4:1"} {
		if _, err := ParseScenario(bad); !errors.Is(err, ErrScenario) {
			t.Errorf("ParseScenario(%q): %v, want ErrScenario", bad, err)
		}
	}
}

func TestDefaultScenariosParse(t *testing.T) {
	scs, err := ParseScenarios(DefaultScenarios)
	if err != nil || len(scs) != 7 {
		t.Fatalf("%d scenarios, %v", len(scs), err)
	}
	if _, err := ParseScenarios(" , "); !errors.Is(err, ErrScenario) {
		t.Fatalf("empty list: %v", err)
	}
}

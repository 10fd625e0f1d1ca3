package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultScenarios is what a run measures unless -scenarios says otherwise: the grid of
// issue 20 (PUT and GET of 4 KiB at 4 and 64 workers, of 1 MiB at 4, and 70% GET / 30% PUT of
// 4 KiB at 16).
const DefaultScenarios = "put:4KiB:4,put:4KiB:64,get:4KiB:4,get:4KiB:64,put:1MiB:4,get:1MiB:4,mix70:4KiB:16"

// ErrScenario is returned for a scenario name that does not parse.
var ErrScenario = errors.New("s3load: bad scenario (want OP:SIZE:WORKERS, OP put, get or mixNN with NN% GETs, e.g. put:4KiB:64, mix70:4KiB:16)")

// Scenario is one load: what each operation does, the object size and how many workers issue
// operations back to back.
type Scenario struct {
	Op      string // "put", "get" or "mix"
	GetPct  int    // for "mix": the share of GETs in percent, the rest are PUTs
	Size    int64  // object size in bytes
	Workers int
}

// String is the scenario's name, which ParseScenario reads back.
func (s Scenario) String() string {
	op := s.Op
	if op == "mix" {
		op = fmt.Sprintf("mix%d", s.GetPct)
	}
	return fmt.Sprintf("%s:%s:%d", op, formatSize(s.Size), s.Workers)
}

// Reads reports whether the scenario GETs objects, which must exist first.
func (s Scenario) Reads() bool { return s.Op == "get" || s.Op == "mix" }

// ParseScenario reads a name such as "put:4KiB:64", "get:1MiB:4" or "mix70:4KiB:16".
func ParseScenario(name string) (Scenario, error) {
	parts := strings.Split(name, ":")
	if len(parts) != 3 {
		return Scenario{}, fmt.Errorf("%w: %q", ErrScenario, name)
	}
	var s Scenario
	switch op := parts[0]; {
	case op == "put" || op == "get":
		s.Op = op
	case strings.HasPrefix(op, "mix"):
		pct, err := strconv.Atoi(op[3:])
		if err != nil || pct < 0 || pct > 100 {
			return Scenario{}, fmt.Errorf("%w: %q: the GET share of mixNN must be 0 to 100", ErrScenario, name)
		}
		s.Op, s.GetPct = "mix", pct
	default:
		return Scenario{}, fmt.Errorf("%w: %q: unknown operation %q", ErrScenario, name, op)
	}
	size, err := parseSize(parts[1])
	if err != nil || size <= 0 {
		return Scenario{}, fmt.Errorf("%w: %q: size %q (want e.g. 4KiB, 1MiB, 100)", ErrScenario, name, parts[1])
	}
	s.Size = size
	if s.Workers, err = strconv.Atoi(parts[2]); err != nil || s.Workers <= 0 {
		return Scenario{}, fmt.Errorf("%w: %q: workers %q must be a positive number", ErrScenario, name, parts[2])
	}
	return s, nil
}

// ParseScenarios reads a comma-separated list of scenario names.
func ParseScenarios(list string) ([]Scenario, error) {
	var out []Scenario
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		s, err := ParseScenario(name)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty list", ErrScenario)
	}
	return out, nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}

func parseSize(s string) (int64, error) {
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return 0, err
			}
			return n * u.mult, nil
		}
	}
	panic("unreachable: the empty suffix matches every string")
}

func formatSize(n int64) string {
	for _, u := range sizeUnits[:3] {
		if n >= u.mult && n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nebulaio/nebulaio/config"
)

// openPTY opens a pseudo-terminal pair: the terminal end a process writes to, and the
// master end that reads what it wrote.
func openPTY(t *testing.T) (tty, master *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty, master
}

// TestLogFormat: log.format=auto writes human-readable lines to a terminal and JSON to
// anything else (a pipe, /dev/null, a buffer); json and console force one or the other.
func TestLogFormat(t *testing.T) {
	isJSON := func(line string) bool {
		var m map[string]any
		return json.Unmarshal([]byte(line), &m) == nil && m["message"] == "hello" && m["node_id"] == "n1" && m["level"] == "info"
	}
	isConsole := func(line string) bool {
		return !strings.HasPrefix(line, "{") && strings.Contains(line, "INF") && strings.Contains(line, "hello") && strings.Contains(line, "node_id=n1")
	}
	logLine := func(format string, w *os.File) {
		t.Helper()
		l, err := newLogger(config.LogConfig{Level: "info", Format: format}, "n1", w)
		if err != nil {
			t.Fatal(err)
		}
		l.Info().Msg("hello")
	}

	tty, master := openPTY(t)
	if !isTerminal(tty) {
		t.Fatal("a pseudo-terminal is not a terminal")
	}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- stripANSI(sc.Text())
		}
	}()
	for _, tc := range []struct {
		format  string
		console bool
	}{{"auto", true}, {"json", false}, {"console", true}} {
		logLine(tc.format, tty)
		select {
		case l := <-lines:
			if tc.console && !isConsole(l) || !tc.console && !isJSON(l) {
				t.Errorf("log.format=%s on a terminal: %q", tc.format, l)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("log.format=%s on a terminal: nothing written", tc.format)
		}
	}

	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	if isTerminal(devNull) {
		t.Error("/dev/null is taken for a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tc := range []struct {
		format  string
		console bool
	}{{"auto", false}, {"json", false}, {"console", true}} {
		logLine(tc.format, w)
	}
	w.Close()
	var got []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		got = append(got, stripANSI(sc.Text()))
	}
	if len(got) != 3 || !isJSON(got[0]) || !isJSON(got[1]) || !isConsole(got[2]) {
		t.Errorf("on a pipe (auto, json, console): %q", got)
	}
	var buf bytes.Buffer
	if isTerminal(&buf) {
		t.Error("a buffer is taken for a terminal")
	}
}

// stripANSI removes the colour escapes of the console writer.
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return strings.TrimRight(b.String(), "\r")
}

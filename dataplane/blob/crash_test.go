package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const crashDirEnv = "NEBULAIO_BLOB_CRASH_DIR"

// blockingReader yields data, then parks (the child is killed while Put waits). It parks in
// a sleep rather than select{} so the runtime's deadlock detector cannot end the child first.
type blockingReader struct{ data *bytes.Reader }

func (b blockingReader) Read(p []byte) (int, error) {
	if b.data.Len() > 0 {
		return b.data.Read(p)
	}
	time.Sleep(time.Hour)
	return 0, io.EOF
}

// TestCrashHelper is the child of TestCrashDuringPut: it completes one Put and one CRC-only
// Put, then starts a third one that never finishes. It does nothing when run normally.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := randData(300_000, 1)
	if _, err := s.Put(context.Background(), "done", bytes.NewReader(data), expectOf(data)); err != nil {
		t.Fatal(err)
	}
	sent := func() (Digests, error) { return digestsOf(data, true), nil }
	if _, err := s.Put(context.Background(), "crc-only", bytes.NewReader(data), Expect{Size: AnySize, Sent: sent}); err != nil {
		t.Fatal(err)
	}
	s.Put(context.Background(), "torn", blockingReader{bytes.NewReader(randData(2<<20, 2))}, Expect{Size: AnySize})
	t.Fatal("unreachable: the parent kills this process")
}

// TestCrashDuringPut kills a process (SIGKILL) in the middle of a Put and checks the crash
// model: the completed blobs are intact (the CRC-only one still CRC-only), the torn one is invisible, and Open removes its temp
// file.
func TestCrashDuringPut(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("running as the helper's parent only")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
		}
		cmd.Wait()
	}()
	// Wait until the second Put has streamed its 2 MiB into a temp file.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
		big := false
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Size() >= 2<<20 {
				big = true
			}
		}
		if big {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never reached the torn Put")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child was not killed mid-Put: %v", err)
	}

	m := newRecorder(t)
	s, err := Open(dir, Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Verify("done"); err != nil {
		t.Fatalf("completed blob after crash: %v", err)
	}
	if info, err := s.Stat("crc-only"); err != nil || !info.CRCOnly {
		t.Fatalf("completed CRC-only blob after crash: %+v, %v", info, err)
	}
	if err := s.Verify("crc-only"); err != nil {
		t.Fatalf("completed CRC-only blob after crash: %v", err)
	}
	if _, err := s.Stat("torn"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("torn blob visible: %v", err)
	}
	if tf := tempFiles(t, s); len(tf) != 0 || m.get(metricTempRemoved) != 1 {
		t.Fatalf("temp files after Open: %v (removed %v)", tf, m.get(metricTempRemoved))
	}
}

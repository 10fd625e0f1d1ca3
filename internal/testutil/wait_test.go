package testutil

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeT records Fatalf instead of stopping the test.
type fakeT struct{ failed string }

func (*fakeT) Helper()                             {}
func (f *fakeT) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	ft := &fakeT{}
	start := time.Now()
	WaitFor(ft, 5*time.Second, "third call", func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if ft.failed != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls", ft.failed, calls)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("three quick polls took %s", took)
	}
}

func TestWaitForFailsWithTheLastErrorAfterTheTimeout(t *testing.T) {
	ft := &fakeT{}
	start := time.Now()
	n := 0
	WaitFor(ft, 100*time.Millisecond, "never", func() error { n++; return fmt.Errorf("attempt %d", n) })
	took := time.Since(start)
	if took < 100*time.Millisecond || took > 2*time.Second {
		t.Fatalf("gave up after %s, want about 100ms", took)
	}
	if !strings.Contains(ft.failed, "never: not within 100ms") || !strings.Contains(ft.failed, fmt.Sprintf("attempt %d", n)) {
		t.Fatalf("failure message %q does not name what and the last error (attempt %d)", ft.failed, n)
	}
	ft = &fakeT{}
	WaitUntil(ft, 10*time.Millisecond, "false", func() bool { return false })
	if !strings.Contains(ft.failed, "false: not within 10ms") {
		t.Fatalf("WaitUntil failure message %q", ft.failed)
	}
}

package wal

import (
	"errors"
	"testing"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// TestStoreLogsFaults injects one file-system fault through Options.FS while batches are
// appended, and checks the failing StoreLogs's error, whether the log then refuses every write
// (ErrFailed) until reopened, that the entries acknowledged before still read back, and what a
// reopen finds: after a process restart (the page cache survives) and after a power cut
// (vfs.Mem.Crash: only synced bytes under durable names survive).
func TestStoreLogsFaults(t *testing.T) {
	const (
		seed     = 15
		perBatch = 8
		maxSize  = 200 // 8 entries ~ 1.2 KiB: a 16 KiB segment holds about 13 batches
	)
	cases := []struct {
		name  string
		fault vfs.Fault
		want  error // wrapped by the failing StoreLogs's error
		// sticky: the log refuses every later write with ErrFailed until reopened.
		sticky bool
		// crashKeeps: a power cut right after the failure keeps the failed batch (it was synced;
		// only a name change failed), instead of losing it.
		crashKeeps bool
	}{
		{
			name:   "segment fdatasync fails (EIO)",
			fault:  vfs.Fault{Ops: vfs.OpSync, Path: vfs.MatchBase("*.wal")},
			want:   vfs.ErrIO,
			sticky: true,
		},
		{
			name:   "segment write fails (ENOSPC)",
			fault:  vfs.Fault{Ops: vfs.OpWrite, Path: vfs.MatchBase("*.wal"), Err: vfs.ErrNoSpace},
			want:   vfs.ErrNoSpace,
			sticky: true,
		},
		{
			name:   "torn segment write: half the batch, then EIO",
			fault:  vfs.Fault{Ops: vfs.OpWrite, Path: vfs.MatchBase("*.wal"), Short: true},
			want:   vfs.ErrIO,
			sticky: true,
		},
		{
			name:   "rotation: fdatasync of the new segment fails",
			fault:  vfs.Fault{Ops: vfs.OpSync, Path: vfs.MatchBase(spareName), After: 1}, // the spare's own sync passes
			want:   vfs.ErrIO,
			sticky: true,
		},
		{
			name:       "rotation: renaming the new segment fails",
			fault:      vfs.Fault{Ops: vfs.OpRename, Path: vfs.MatchBase("*.wal")},
			want:       vfs.ErrIO,
			sticky:     true,
			crashKeeps: true, // Open adopts next.spare: its header and batch were synced
		},
		{
			name:   "rotation: no space for the next segment",
			fault:  vfs.Fault{Ops: vfs.OpWrite | vfs.OpTruncate, Path: vfs.MatchBase(spareName), Err: vfs.ErrNoSpace},
			want:   vfs.ErrNoSpace,
			sticky: false, // nothing written is in doubt: the next StoreLogs tries again
		},
	}
	for _, tc := range cases {
		for _, stop := range vfs.Stops {
			crash := stop == vfs.PowerCut
			t.Run(tc.name+"/"+stop.String(), func(t *testing.T) {
				mem := vfs.NewMem()
				ffs := vfs.NewFaulty(mem)
				opts := testOpts()
				opts.FS = ffs
				l := openT(t, "/wal", opts)
				next := uint64(1)
				store := func(l *Log) error {
					err := l.StoreLogs(genBatch(seed, next, perBatch, maxSize))
					if err == nil {
						next += perBatch
					}
					return err
				}
				for range 3 {
					if err := store(l); err != nil {
						t.Fatal(err)
					}
				}

				ffs.Inject(tc.fault)
				var err error
				for i := 0; i < 50 && err == nil; i++ {
					err = store(l)
				}
				if err == nil {
					t.Fatal("no StoreLogs failed")
				}
				acked := next - 1
				if !errors.Is(err, tc.want) || errors.Is(err, ErrFailed) != tc.sticky {
					t.Fatalf("StoreLogs: %v; want it to wrap %v, and ErrFailed: %v", err, tc.want, tc.sticky)
				}
				ffs.Reset() // the disk works again; a failed log must still refuse
				if tc.sticky {
					if err := store(l); !errors.Is(err, ErrFailed) || !errors.Is(err, tc.want) {
						t.Fatalf("StoreLogs after the failure: %v, want ErrFailed wrapping %v", err, tc.want)
					}
					if err := l.DeleteRange(1, 2); !errors.Is(err, ErrFailed) {
						t.Fatalf("DeleteRange after the failure: %v, want ErrFailed", err)
					}
				} else {
					if err := store(l); err != nil {
						t.Fatalf("StoreLogs once the fault is gone: %v", err)
					}
					acked = next - 1
				}
				checkRange(t, l, seed, 1, acked, maxSize) // reads still work
				checkInvariants(t, l)

				opts.FS = stop.Apply(mem) // after a power cut l's files fail; Close still ends its work
				_ = l.Close()
				l = openT(t, "/wal", opts)
				defer l.Close()
				last, _ := l.LastIndex()
				switch {
				case crash && tc.crashKeeps && tc.sticky:
					if last != acked+perBatch {
						t.Fatalf("after a power cut: last index %d, want %d (acknowledged %d + the synced batch)", last, acked+perBatch, acked)
					}
				case crash:
					if last != acked {
						t.Fatalf("after a power cut: last index %d, want %d (only what was acknowledged)", last, acked)
					}
				case last < acked || last > acked+perBatch:
					// A restart may keep whole entries of the failed batch (they were written),
					// never lose an acknowledged one.
					t.Fatalf("after a restart: last index %d, want %d..%d", last, acked, acked+perBatch)
				}
				checkRange(t, l, seed, 1, last, maxSize) // every entry recovered is the one stored
				next = last + 1
				if err := store(l); err != nil {
					t.Fatalf("StoreLogs after reopening: %v", err)
				}
				checkRange(t, l, seed, 1, next-1, maxSize)
			})
		}
	}
}

// TestDeleteRangeFaults: a failed head or tail truncation also makes the log refuse writes,
// and the entries it did not delete still read back.
func TestDeleteRangeFaults(t *testing.T) {
	const seed, maxSize = 16, 200
	cases := []struct {
		name     string
		fault    vfs.Fault
		min, max uint64
	}{
		{"prefix: the head write fails (ENOSPC)", vfs.Fault{Ops: vfs.OpWrite, Path: vfs.MatchBase(headName), Err: vfs.ErrNoSpace}, 1, 40},
		{"suffix: the truncation fails (EIO)", vfs.Fault{Ops: vfs.OpTruncate, Path: vfs.MatchBase("*.wal")}, 60, 80},
		{"everything: the head sync fails (EIO)", vfs.Fault{Ops: vfs.OpSync, Path: vfs.MatchBase(headName)}, 1, 80},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ffs := vfs.NewFaulty(vfs.NewMem())
			opts := testOpts()
			opts.FS = ffs
			l := openT(t, "/wal", opts)
			defer l.Close()
			for i := uint64(1); i <= 80; i += 8 {
				mustStore(t, l, genBatch(seed, i, 8, maxSize))
			}
			ffs.Inject(tc.fault)
			err := l.DeleteRange(tc.min, tc.max)
			want := tc.fault.Err
			if want == nil {
				want = vfs.ErrIO
			}
			if !errors.Is(err, ErrFailed) || !errors.Is(err, want) {
				t.Fatalf("DeleteRange: %v, want ErrFailed wrapping %v", err, want)
			}
			ffs.Reset()
			if err := l.StoreLogs(genBatch(seed, 81, 1, maxSize)); !errors.Is(err, ErrFailed) {
				t.Fatalf("StoreLogs after the failure: %v, want ErrFailed", err)
			}
			first, _ := l.FirstIndex()
			last, _ := l.LastIndex()
			if first > 1 && first != tc.max+1 || last < 80 && last != tc.min-1 {
				t.Fatalf("range [%d, %d] after a failed DeleteRange(%d, %d)", first, last, tc.min, tc.max)
			}
			if first != 0 {
				checkRange(t, l, seed, first, last, maxSize)
			}
		})
	}
}

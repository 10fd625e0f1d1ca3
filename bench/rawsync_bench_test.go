package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkRawAppendSync is the physical limit for the log benchmarks in the same run: a plain
// sequential write of one buffer plus fdatasync, into a region that was zero-filled and synced
// beforehand (the fastest raw mode on this disk), with no framing and no index. When the
// region is used up the writes wrap to its start (still allocated blocks).
func BenchmarkRawAppendSync(b *testing.B) {
	for _, size := range []int{128, 131072, 2097152} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			const region = 64 << 20
			f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			zeros := make([]byte, 1<<20)
			for off := 0; off < region; off += len(zeros) {
				if _, err := f.WriteAt(zeros, int64(off)); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			buf := payload(size, 5)
			fd := int(f.Fd())
			b.SetBytes(int64(size))
			b.ResetTimer()
			off := int64(0)
			for i := 0; i < b.N; i++ {
				if off+int64(size) > region {
					off = 0
				}
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				if err := syscall.Fdatasync(fd); err != nil {
					b.Fatal(err)
				}
				off += int64(size)
			}
		})
	}
}

package snapshot

import (
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// BenchmarkReaderGet measures point reads from a 100,000-key snapshot with one delta, with
// the chunk cache on (hot working set) and off (every Get reads and decompresses a chunk).
func BenchmarkReaderGet(b *testing.B) {
	for _, cache := range []int64{-1, 64 << 20} {
		b.Run(fmt.Sprintf("cache=%v", cache > 0), func(b *testing.B) {
			s, err := NewStore(b.TempDir(), Options{CacheBytes: cache, DisableAutoCompaction: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			st := state{}
			for i := 0; i < 100000; i++ {
				st[fmt.Sprintf("bucket-%02d/obj-%07d", i%10, i)] = fmt.Sprintf("value-%0100d", i)
			}
			id, err := persist(b, s, 1, func(w io.Writer) error { return writeFull(w, st) })
			if err != nil {
				b.Fatal(err)
			}
			cur := st.clone()
			for i := 0; i < 100000; i += 100 {
				cur[fmt.Sprintf("bucket-%02d/obj-%07d", i%10, i)] = "changed"
			}
			if id, err = persist(b, s, 2, func(w io.Writer) error { return writeDelta(w, id, st, cur) }); err != nil {
				b.Fatal(err)
			}
			r, err := s.Reader(id)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n := rng.IntN(100000)
				k := fmt.Sprintf("bucket-%02d/obj-%07d", n%10, n)
				v, ok, err := r.Get([]byte(k))
				if err != nil || !ok || string(v) != cur[k] {
					b.Fatalf("Get(%s) = %q, %v, %v", k, v, ok, err)
				}
			}
		})
	}
}

package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/nebulaio/nebulaio/dataplane/blob"
)

// BenchmarkErasure1MiB writes and reads 1 MiB blobs on three nodes (real TCP on loopback),
// replicated (factor 3) and erasure-coded 2+1, through one node.
func BenchmarkErasure1MiB(b *testing.B) {
	data := randomBytes(1, 1<<20)
	for _, mode := range []string{"rf3", "ec2+1"} {
		var opts []nodeOption
		if mode == "ec2+1" {
			opts = append(opts, withErasure(2, 1, 1))
		}
		c := newDataCluster(b, 3, 3, opts...)
		b.Run("put/"+mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				id := c.nodes["d1"].d.NewBlobID(int64(len(data)))
				if _, _, err := c.nodes["d1"].d.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: int64(len(data))}); err != nil {
					b.Fatal(err)
				}
			}
		})
		id := c.nodes["d1"].d.NewBlobID(int64(len(data)))
		_, nodes, err := c.nodes["d1"].d.Put(context.Background(), id, bytes.NewReader(data), blob.Expect{Size: int64(len(data))})
		if err != nil {
			b.Fatal(err)
		}
		via := "d1"
		if l, ok := parseEC(id); ok { // read through the parity shard's holder
			via = c.nodes["d1"].d.placement().shardTarget(id, l, 2)
		}
		b.Run("get/"+mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				rc, err := c.nodes[via].d.Open(context.Background(), id, nodes, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil || n != int64(len(data)) {
					b.Fatal(fmt.Errorf("%d %v", n, err))
				}
			}
		})
	}
}

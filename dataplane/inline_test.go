package dataplane

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
)

// inlineRef is a blob whose bytes the metadata holds (fsm, "Inline blobs"): no node has it.
func inlineRef(id string) fsm.BlobRef {
	return fsm.BlobRef{Blob: fsm.Blob{ID: id, Size: 3, Inline: true}, ModTime: time.Now().Add(-time.Hour).UnixNano()}
}

// TestMaintenanceSkipsInlineBlobs: repair neither checks nor reports lost an inline blob, and
// garbage collection does not count it as a reference to a local file.
func TestMaintenanceSkipsInlineBlobs(t *testing.T) {
	c := newDataCluster(t, 3, 3)
	ctx := context.Background()
	_, nodes, err := c.nodes["d1"].d.Put(ctx, "stored", bytes.NewReader([]byte("abc")), Expect{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	m := maintenance(blobRef("stored", 3, nodes), inlineRef("inline"))
	st, err := c.nodes["d1"].d.RepairPass(ctx, m)
	if err != nil || st.BlobsChecked != 1 || st.Lost != 0 || st.UnderReplicated != 0 || st.CopiesMade != 0 {
		t.Fatalf("repair over an inline blob: %+v %v", st, err)
	}
	gc, err := c.nodes["d1"].d.CollectGarbage(ctx, m, time.Now().Add(2*time.Hour))
	if err != nil || gc.Referenced != 1 || gc.Deleted != 0 {
		t.Fatalf("gc over an inline blob: %+v %v", gc, err)
	}
}

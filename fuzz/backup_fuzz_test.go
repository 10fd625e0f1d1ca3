package fuzz

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/backup"
	"github.com/nebulaio/nebulaio/fsm"
)

// memSink is a raft.SnapshotSink into memory.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

// validBackup is a small backup: buckets, objects with blobs, the cluster ID setting.
func validBackup(t testing.TB) []byte {
	t.Helper()
	f := fsm.New(fsm.Options{})
	evs := []fsm.Event{&fsm.CreateBucket{Name: "photos", Owner: "o", Created: 1}, &fsm.SetSetting{Key: backup.SettingClusterID, Value: "0123456789abcdef"}}
	for i := range 5 {
		evs = append(evs, &fsm.PutObject{Bucket: "photos", Key: fmt.Sprintf("k%d", i), Size: 3, ETag: "d41d8cd98f00b204e9800998ecf8427e",
			Blobs: []fsm.Blob{{ID: fmt.Sprintf("b%d", i), Size: 3, Nodes: []string{"n1"}}}, ModTime: int64(i)})
	}
	for i, ev := range evs {
		b, err := fsm.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if res, _ := f.Apply(&raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: b}).(*fsm.Result); res == nil || res.Err != nil {
			t.Fatalf("apply %T: %+v", ev, res)
		}
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	var out bytes.Buffer
	if _, err := backup.Write(&out, &sink.Buffer, backup.Info{NodeID: "n1", Version: "fuzz", Created: time.Unix(1700000000, 0),
		Index: uint64(len(evs)), Term: 1}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// FuzzBackupVerify: backup.Verify of any bytes returns, without panicking, a manifest or an
// error; a file it accepts is also read whole by the restore's readers (OpenFile, Metadata,
// Blobs) without an error, with as many blob entries as its manifest counts.
func FuzzBackupVerify(f *testing.F) {
	good := validBackup(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := backup.Verify(bytes.NewReader(data), backup.VerifyOptions{})
		if err != nil {
			return
		}
		path := filepath.Join(t.TempDir(), "b.tar.gz")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := backup.OpenFile(path)
		if err != nil {
			t.Fatalf("verified, but OpenFile: %v", err)
		}
		if err := a.Metadata(func(io.Reader) error { return nil }); err != nil {
			t.Fatalf("verified, but Metadata: %v", err)
		}
		n := 0
		if err := a.Blobs(func(backup.BlobEntry) error { n++; return nil }); err != nil || n != m.Counts.Blobs {
			t.Fatalf("verified, but Blobs: %d entries of %d, %v", n, m.Counts.Blobs, err)
		}
	})
}

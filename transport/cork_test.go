package transport

import (
	"bytes"
	"crypto/tls"
	"io"
	"math/rand"
	"net"
	"sync/atomic"
	"testing"
)

// countingConn counts the Write calls that reach it (the system calls of a real connection).
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestCorkedWriteIsOneSystemCall: a 64 KiB frame over TLS (five records) reaches the raw
// connection in one Write, and the peer reads exactly the bytes written; a plain Write of the
// same frame takes one Write per record.
func TestCorkedWriteIsOneSystemCall(t *testing.T) {
	pki := newTestPKI(t)
	srvCfg, cliCfg := pki.mutualTLS(t, "n1")
	cliCfg.ServerName = "127.0.0.1" // the test certificates name 127.0.0.1
	a, b := net.Pipe()
	raw := &countingConn{Conn: a}
	tc := &trackedConn{Conn: raw, t: newNode(t, Config{})}
	client, server := tls.Client(tc, cliCfg), tls.Server(b, srvCfg)
	defer a.Close() // not client.Close: its close_notify would wait for a reader that is gone
	defer b.Close()
	frame := make([]byte, frameHeaderSize+streamChunkSize)
	rand.New(rand.NewSource(1)).Read(frame)
	got := make(chan []byte, 2)
	go func() {
		for range 2 {
			buf := make([]byte, len(frame))
			if _, err := io.ReadFull(server, buf); err != nil {
				got <- nil
				return
			}
			got <- buf
		}
	}()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	before := raw.writes.Load()
	if err := writeCorked(client, frame); err != nil {
		t.Fatal(err)
	}
	if n := raw.writes.Load() - before; n != 1 {
		t.Fatalf("a corked 64 KiB frame took %d writes, want 1", n)
	}
	if b := <-got; !bytes.Equal(b, frame) {
		t.Fatal("the peer read other bytes")
	}
	before = raw.writes.Load()
	if _, err := client.Write(frame); err != nil {
		t.Fatal(err)
	}
	if n := raw.writes.Load() - before; n < 4 {
		t.Fatalf("an uncorked 64 KiB frame took %d writes; the test no longer shows what corking saves", n)
	}
	if b := <-got; !bytes.Equal(b, frame) {
		t.Fatal("the peer read other bytes after an uncorked write")
	}
	if tc.corked || len(tc.pending) != 0 {
		t.Fatal("the connection stayed corked")
	}
}

package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/testutil"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		frame  []byte
		typ    byte
		id     uint64
		method string
		body   []byte
	}{
		{name: "request", frame: encodeRequest(frameRequest, 42, 1500*time.Millisecond, "m", []byte("body")), typ: frameRequest, id: 42, method: "m", body: []byte("body")},
		{name: "empty request", frame: encodeRequest(frameRequest, 1, 0, "method.name", nil), typ: frameRequest, id: 1, method: "method.name", body: []byte{}},
		{name: "response", frame: encodeBytes(frameResponse, 1<<63, []byte("reply")), typ: frameResponse, id: 1 << 63, body: []byte("reply")},
		{name: "cancel", frame: sealFrame(newFrame(0), frameCancel, 7), typ: frameCancel, id: 7, body: []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, id, p, err := readFrame(bytes.NewReader(tc.frame), 1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.typ || id != tc.id {
				t.Fatalf("got type %d id %d, want %d %d", typ, id, tc.typ, tc.id)
			}
			body := p
			if tc.method != "" {
				timeout, method, b, err := decodeRequest(p)
				if err != nil || method != tc.method {
					t.Fatalf("decodeRequest: %q %v", method, err)
				}
				if tc.name == "request" && timeout != 1500*time.Millisecond {
					t.Fatalf("timeout %v", timeout)
				}
				body = b
			}
			if !bytes.Equal(body, tc.body) {
				t.Fatalf("body %q, want %q", body, tc.body)
			}
		})
	}
}

func TestErrorFrameRoundTrip(t *testing.T) {
	f := encodeError(3, errKindHandler, "NoSuchBucket", "bucket b does not exist", 1<<20)
	_, _, p, err := readFrame(bytes.NewReader(f), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	var re *RemoteError
	if err := decodeError(p, "m"); !errors.As(err, &re) || re.Code != "NoSuchBucket" || re.Message != "bucket b does not exist" {
		t.Fatalf("decodeError = %v", err)
	}
	f = encodeError(3, errKindNoHandler, "", "m", 1<<20)
	_, _, p, _ = readFrame(bytes.NewReader(f), 1<<20, nil)
	if err := decodeError(p, "m"); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("decodeError = %v, want ErrNoHandler", err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 5, 'a'}, {9, 0}} {
		if err := decodeError(bad, "m"); !errors.Is(err, ErrBadFrame) {
			t.Errorf("decodeError(%v) = %v, want ErrBadFrame", bad, err)
		}
	}
}

// Every cut of a valid frame is a truncation and every flipped byte is detected.
func TestFrameDamage(t *testing.T) {
	good := encodeRequest(frameRequest, 9, time.Second, "echo", []byte("payload bytes"))
	for cut := 0; cut < len(good); cut++ {
		_, _, _, err := readFrame(bytes.NewReader(good[:cut]), 1<<20, nil)
		want := io.ErrUnexpectedEOF
		if cut == 0 {
			want = io.EOF
		}
		if !errors.Is(err, want) && !errors.Is(err, ErrBadFrame) {
			t.Errorf("cut at %d: err = %v, want %v", cut, err, want)
		}
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		_, _, _, err := readFrame(bytes.NewReader(bad), 1<<20, nil)
		if err == nil {
			t.Errorf("flip byte %d: no error", i)
		} else if !errors.Is(err, ErrBadFrame) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("flip byte %d: err = %v", i, err)
		}
	}
	huge := bytes.Clone(good)
	binary.BigEndian.PutUint32(huge[9:13], 1<<30)
	if _, _, _, err := readFrame(bytes.NewReader(huge), 1<<20, nil); !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrBadFrame) {
		t.Errorf("oversized length: err = %v, want ErrFrameTooLarge and ErrBadFrame", err)
	}
	for _, p := range [][]byte{nil, {0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 9, 'a'}} {
		if _, _, _, err := decodeRequest(p); !errors.Is(err, ErrBadFrame) {
			t.Errorf("decodeRequest(%v) = %v, want ErrBadFrame", p, err)
		}
	}
}

// rawDial opens a raw TCP connection and sends a preamble of the given kind.
func rawDial(t *testing.T, addr string, kind byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	from := "127.0.0.1:1"
	if _, err := c.Write(append([]byte{kind, byte(len(from))}, from...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectClosed reads until the server closes the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server did not close the connection")
	}
}

// Bad frames written by a raw connection close that connection; the server serves others.
func TestBadFramesCloseConnection(t *testing.T) {
	srv := newNode(t, Config{MaxFrameSize: 64 << 10})
	srv.Handle("echo", echo)
	cli := newNode(t, Config{})

	badCRC := encodeRequest(frameRequest, 1, 0, "echo", []byte("x"))
	badCRC[len(badCRC)-1] ^= 1
	oversized := encodeRequest(frameRequest, 1, 0, "echo", nil)
	binary.BigEndian.PutUint32(oversized[9:13], 1<<20)
	unknownType := encodeBytes(frameRequest, 1, nil)
	unknownType[0] = 0xEE
	responseFromClient := encodeBytes(frameResponse, 1, []byte("?"))
	noMethod := encodeBytes(frameRequest, 1, []byte{0, 0, 0, 0, 0})

	tests := []struct {
		name  string
		kind  byte
		bytes []byte
	}{
		{"bad checksum", muxRPC, badCRC},
		{"oversized length", muxRPC, oversized},
		{"unknown frame type", muxRPC, unknownType},
		{"response from client", muxRPC, responseFromClient},
		{"request without method", muxRPC, noMethod},
		{"unknown mux byte", 0x7F, nil},
		{"stream open garbage", muxStream, []byte("GET / HTTP/1.1\r\n\r\n0123456789")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rawDial(t, srv.Addr(), tc.kind)
			defer c.Close()
			if len(tc.bytes) > 0 {
				if _, err := c.Write(tc.bytes); err != nil {
					t.Fatal(err)
				}
			}
			expectClosed(t, c)
			if _, err := cli.Call(context.Background(), srv.Addr(), "echo", []byte("ok")); err != nil {
				t.Fatalf("server stopped serving after a bad frame: %v", err)
			}
		})
	}
	testutil.WaitUntil(t, 5*time.Second, "bad connections released", func() bool { return srv.numConns() <= 2 })
}

// A server that answers with a bad frame fails the pending calls of that connection with
// ErrConnLost wrapping ErrBadFrame; the next call dials afresh.
func TestBadFrameFromServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var pre [2]byte
		if _, err := io.ReadFull(br, pre[:]); err != nil {
			return
		}
		if _, err := io.ReadFull(br, make([]byte, pre[1])); err != nil {
			return
		}
		if _, err := c.Write(pre[:1]); err != nil { // accept
			return
		}
		_, id, _, err := readFrame(br, 1<<20, nil)
		if err != nil {
			return
		}
		f := encodeBytes(frameResponse, id, []byte("reply"))
		f[frameHeaderSize] ^= 0xFF // corrupt the payload: checksum mismatch
		_, _ = c.Write(f)
		_, _ = io.Copy(io.Discard, br)
	}()
	cli := newNode(t, Config{PoolSize: 1})
	_, err = cli.Call(context.Background(), ln.Addr().String(), "echo", []byte("x"))
	if !errors.Is(err, ErrConnLost) || !errors.Is(err, ErrBadFrame) {
		t.Fatalf("err = %v, want ErrConnLost and ErrBadFrame", err)
	}
	ln.Close()
	<-served
}

// FuzzReadFrame: the decoder never panics, never allocates past the bound, and whatever it
// accepts re-encodes to the same bytes.
func FuzzReadFrame(f *testing.F) {
	f.Add(encodeRequest(frameRequest, 1, time.Second, "echo", []byte("hi")))
	f.Add(encodeBytes(frameResponse, 2, []byte("reply")))
	f.Add(encodeError(3, errKindHandler, "Code", "message", 1<<16))
	f.Add(sealFrame(newFrame(0), frameEnd, 0))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 1 << 16
		typ, id, p, err := readFrame(bytes.NewReader(b), max, nil)
		if err != nil {
			return
		}
		if len(p) > max {
			t.Fatalf("payload of %d bytes past the bound", len(p))
		}
		again := encodeBytes(typ, id, p)
		if !bytes.Equal(again, b[:len(again)]) {
			t.Fatalf("re-encoding differs")
		}
		switch typ {
		case frameRequest, frameUploadOpen, frameDownloadOpen:
			_, _, _, _ = decodeRequest(p)
		case frameError:
			_ = decodeError(p, "m")
		}
	})
}

package transport

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// Connection kinds: the first byte a dialer sends on a new connection (inside TLS when TLS is on).
const (
	muxRaft   byte = 0x01 // hashicorp/raft NetworkTransport stream, handed to RaftLayer().Accept
	muxRPC    byte = 0x02 // pipelined request/response frames
	muxStream byte = 0x03 // one streaming transfer (upload or download)
)

// maxAddrLen bounds the advertised address in the preamble (its length is one byte).
const maxAddrLen = 255

// Frame types.
const (
	frameRequest      byte = 1 // client → server: timeout, method, body
	frameResponse     byte = 2 // server → client: reply body
	frameError        byte = 3 // server → client: kind, code, message
	frameCancel       byte = 4 // client → server: the call with this id was abandoned
	frameUploadOpen   byte = 5 // stream client → server: as frameRequest, body follows as data
	frameDownloadOpen byte = 6 // stream client → server: as frameRequest, reply comes as data
	frameData         byte = 7 // stream: a chunk of body
	frameEnd          byte = 8 // stream: end of body
	frameAbort        byte = 9 // stream client → server: the body failed; payload is the message
	maxFrameType           = frameAbort
	frameHeaderSize        = 17
	maxFrameLimit          = 1 << 30
	streamChunkSize        = 64 << 10
)

// Kinds of frameError.
const (
	errKindHandler   byte = 0 // a handler returned an error: *RemoteError
	errKindNoHandler byte = 1 // no handler for the method: ErrNoHandler
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Frame layout (all integers big-endian):
//
//	 0      1                    9               13              17
//	 +------+--------------------+---------------+---------------+------------------+
//	 | type | request id (u64)   | length (u32)  | crc32c (u32)  | payload (length) |
//	 +------+--------------------+---------------+---------------+------------------+
//
// crc32c (Castagnoli) covers bytes [0,13) of the header followed by the payload.

// newFrame returns a buffer of frameHeaderSize+n bytes whose payload (buf[frameHeaderSize:]) the
// caller fills before sealFrame.
func newFrame(n int) []byte { return make([]byte, frameHeaderSize+n) }

// sealFrame writes the header of buf (type, id, length, checksum) over its payload.
func sealFrame(buf []byte, typ byte, id uint64) []byte {
	buf[0] = typ
	binary.BigEndian.PutUint64(buf[1:9], id)
	binary.BigEndian.PutUint32(buf[9:13], uint32(len(buf)-frameHeaderSize))
	crc := crc32.Update(crc32.Checksum(buf[:13], castagnoli), castagnoli, buf[frameHeaderSize:])
	binary.BigEndian.PutUint32(buf[13:17], crc)
	return buf
}

// readFrame reads one frame. The payload is read into buf when it fits (so a caller that reuses
// buf must consume the payload before the next call), else into a new slice. Every length is
// checked against max before allocating. A clean EOF before the first header byte is io.EOF; any
// other truncation is io.ErrUnexpectedEOF; a validation failure wraps ErrBadFrame.
func readFrame(r io.Reader, max int, buf []byte) (typ byte, id uint64, payload []byte, err error) {
	var h [frameHeaderSize]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, 0, nil, err
	}
	typ = h[0]
	id = binary.BigEndian.Uint64(h[1:9])
	n := binary.BigEndian.Uint32(h[9:13])
	want := binary.BigEndian.Uint32(h[13:17])
	if typ == 0 || typ > maxFrameType {
		return 0, 0, nil, fmt.Errorf("%w: unknown type %d", ErrBadFrame, typ)
	}
	if uint64(n) > uint64(max) {
		return 0, 0, nil, fmt.Errorf("%w: %w: length %d > max %d", ErrBadFrame, ErrFrameTooLarge, n, max)
	}
	if int(n) <= cap(buf) {
		payload = buf[:n]
	} else {
		payload = make([]byte, n)
	}
	if _, err = io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, err
	}
	got := crc32.Update(crc32.Checksum(h[:13], castagnoli), castagnoli, payload)
	if got != want {
		return 0, 0, nil, fmt.Errorf("%w: checksum mismatch (type %d, id %d, length %d)", ErrBadFrame, typ, id, n)
	}
	return typ, id, payload, nil
}

// Request payload (frameRequest, frameUploadOpen, frameDownloadOpen):
//
//	+----------------+-----------+--------+------+
//	| timeout ms u32 | mlen u8   | method | body |
//	+----------------+-----------+--------+------+
//
// timeout ms is the caller's remaining deadline (0: none); the handler's context gets it.

func encodeRequest(typ byte, id uint64, timeout time.Duration, method string, body []byte) []byte {
	buf := newFrame(5 + len(method) + len(body))
	p := buf[frameHeaderSize:]
	ms := uint32(0)
	if timeout > 0 {
		m := (timeout + time.Millisecond - 1) / time.Millisecond
		if m > 1<<32-1 {
			m = 1<<32 - 1
		}
		ms = uint32(m)
	}
	binary.BigEndian.PutUint32(p[0:4], ms)
	p[4] = byte(len(method))
	copy(p[5:], method)
	copy(p[5+len(method):], body)
	return sealFrame(buf, typ, id)
}

func decodeRequest(p []byte) (timeout time.Duration, method string, body []byte, err error) {
	if len(p) < 5 {
		return 0, "", nil, fmt.Errorf("%w: request payload of %d bytes", ErrBadFrame, len(p))
	}
	ms := binary.BigEndian.Uint32(p[0:4])
	mlen := int(p[4])
	if mlen == 0 || len(p) < 5+mlen {
		return 0, "", nil, fmt.Errorf("%w: request method length %d in %d bytes", ErrBadFrame, mlen, len(p))
	}
	return time.Duration(ms) * time.Millisecond, string(p[5 : 5+mlen]), p[5+mlen:], nil
}

// Error payload (frameError):
//
//	+---------+-----------+------+---------+
//	| kind u8 | clen u8   | code | message |
//	+---------+-----------+------+---------+

func encodeError(id uint64, kind byte, code, msg string, max int) []byte {
	if len(code) > 255 {
		code = code[:255]
	}
	if room := max - 2 - len(code); len(msg) > room {
		msg = msg[:room]
	}
	buf := newFrame(2 + len(code) + len(msg))
	p := buf[frameHeaderSize:]
	p[0] = kind
	p[1] = byte(len(code))
	copy(p[2:], code)
	copy(p[2+len(code):], msg)
	return sealFrame(buf, frameError, id)
}

// decodeError turns an error payload into the error the caller sees.
func decodeError(p []byte, method string) error {
	if len(p) < 2 || len(p) < 2+int(p[1]) {
		return fmt.Errorf("%w: error payload of %d bytes", ErrBadFrame, len(p))
	}
	code := string(p[2 : 2+int(p[1])])
	msg := string(p[2+int(p[1]):])
	switch p[0] {
	case errKindHandler:
		return &RemoteError{Code: code, Message: msg}
	case errKindNoHandler:
		return fmt.Errorf("%w: %q", ErrNoHandler, method)
	default:
		return fmt.Errorf("%w: error kind %d", ErrBadFrame, p[0])
	}
}

func encodeBytes(typ byte, id uint64, body []byte) []byte {
	buf := newFrame(len(body))
	copy(buf[frameHeaderSize:], body)
	return sealFrame(buf, typ, id)
}

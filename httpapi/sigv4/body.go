package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Bounds on the aws-chunked framing; lines beyond them are malformed, never buffered.
const (
	maxChunkLine    = 4 << 10 // one chunk-size line or trailer line
	maxTrailerLines = 16
	// lineBufferSize holds one chunk line (or trailer line) with room to spare. It is small on
	// purpose: it is allocated per request, and chunk data mostly bypasses it (a read into a
	// buffer at least this large, with nothing buffered, goes straight to the caller's).
	lineBufferSize = 2 * maxChunkLine
)

// checksumState is a checksum the client declared and the running hash of the payload.
type checksumState struct {
	alg     ChecksumAlgorithm
	value   string // base64 as sent; "" until a trailer value arrives
	trailer bool
	h       hash.Hash // nil when the value describes an object, not the payload (VerifyOptions.ObjectChecksum)
}

// write feeds payload bytes to the hash; a nil state or one not about the payload ignores them.
func (c *checksumState) write(p []byte) {
	if c != nil && c.h != nil {
		c.h.Write(p)
	}
}

func (c *checksumState) verify() error {
	if c == nil || c.h == nil {
		return nil
	}
	if got := base64.StdEncoding.EncodeToString(c.h.Sum(nil)); got != c.value {
		return ErrBadDigest.with("%s mismatch", c.alg)
	}
	return nil
}

// Headers that start like a checksum header but are not one.
var checksumControlHeaders = map[string]bool{
	"x-amz-checksum-algorithm": true, // the algorithm of an upload or copy (handled by the caller)
	"x-amz-checksum-type":      true, // COMPOSITE or FULL_OBJECT (handled by the caller)
	"x-amz-checksum-mode":      true, // GET/HEAD: return the stored checksum
}

// declaredChecksum finds a single x-amz-checksum-<alg> request header. With object set the
// value describes the object a request completes: it may carry a composite "-N" suffix and is
// not hashed against the payload.
func declaredChecksum(r *http.Request, object bool) (*checksumState, error) {
	var cs *checksumState
	for name, vals := range r.Header {
		l := strings.ToLower(name)
		if !strings.HasPrefix(l, checksumHeaderPrefix) || checksumControlHeaders[l] || len(vals) == 0 {
			continue
		}
		alg, ok := algorithmFromHeader(l)
		if !ok {
			return nil, ErrInvalidRequest.with("unsupported checksum header %.60q; supported: CRC32, CRC32C, CRC64NVME, SHA1, SHA256", l)
		}
		if cs != nil || len(vals) > 1 {
			return nil, ErrInvalidRequest.with("expecting a single x-amz-checksum- header")
		}
		v := strings.TrimSpace(vals[0])
		if object {
			if base, _, composite := SplitComposite(v); composite {
				v = base
			}
		}
		if !validChecksumValue(alg, v) {
			return nil, ErrInvalidDigest.with("%s value is not base64 of the right size", alg.HeaderName())
		}
		cs = &checksumState{alg: alg, value: strings.TrimSpace(vals[0])}
		if !object {
			cs.h, _ = NewChecksumHash(alg)
		}
	}
	return cs, nil
}

// declaredTrailer reads x-amz-trailer: at most one checksum trailer is supported.
func declaredTrailer(r *http.Request) (*checksumState, error) {
	var cs *checksumState
	for _, v := range r.Header.Values("X-Amz-Trailer") {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			alg, ok := algorithmFromHeader(name)
			if !ok {
				return nil, ErrInvalidRequest.with("unsupported trailer %.60q", name)
			}
			if cs != nil {
				return nil, ErrInvalidRequest.with("expecting a single checksum trailer")
			}
			h, _ := NewChecksumHash(alg)
			cs = &checksumState{alg: alg, trailer: true, h: h}
		}
	}
	return cs, nil
}

// checkSDKAlgorithm enforces S3's rule for x-amz-sdk-checksum-algorithm (sent by the AWS
// SDKs): it must name the algorithm of the checksum header or trailer the request carries.
func checkSDKAlgorithm(r *http.Request, cs *checksumState) error {
	v := r.Header.Get("X-Amz-Sdk-Checksum-Algorithm")
	if v == "" {
		return nil
	}
	alg, ok := ParseChecksumAlgorithm(v)
	if !ok {
		return ErrInvalidRequest.with("unsupported x-amz-sdk-checksum-algorithm %.40q", v)
	}
	if cs == nil {
		return ErrInvalidRequest.with("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found")
	}
	if cs.alg != alg {
		return ErrInvalidRequest.with("x-amz-sdk-checksum-algorithm %s does not match the %s checksum sent", alg, cs.alg)
	}
	return nil
}

// bodyErr maps a read error of the underlying body: a body cut short is IncompleteBody;
// anything else (connection reset, deadline) passes through unchanged.
func bodyErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return ErrIncompleteBody.with("body ended early")
	}
	return err
}

// plainReader passes a non-chunked body through, checking its length and declared checksum.
type plainReader struct {
	src   io.Reader
	want  int64 // -1 unknown
	n     int64
	cs    *checksumState
	final error
}

func (p *plainReader) Read(b []byte) (int, error) {
	if p.final != nil {
		return 0, p.final
	}
	n, err := p.src.Read(b)
	p.n += int64(n)
	p.cs.write(b[:n])
	switch {
	case err == io.EOF:
		p.final = io.EOF
		if p.want >= 0 && p.n != p.want {
			p.final = ErrIncompleteBody.with("got %d of %d bytes", p.n, p.want)
		} else if e := p.cs.verify(); e != nil {
			p.final = e
		}
		return n, p.final
	case err != nil:
		p.final = bodyErr(err)
		return n, p.final
	}
	return n, nil
}

// sha256Reader checks the payload against a hex SHA-256 at end of stream.
type sha256Reader struct {
	src   io.Reader
	want  string
	h     hash.Hash
	final error
}

func newSHA256Reader(src io.Reader, want string) *sha256Reader {
	return &sha256Reader{src: src, want: strings.ToLower(want), h: sha256.New()}
}

func (s *sha256Reader) Read(b []byte) (int, error) {
	if s.final != nil {
		return 0, s.final
	}
	n, err := s.src.Read(b)
	s.h.Write(b[:n])
	if err == io.EOF {
		s.final = io.EOF
		if hex.EncodeToString(s.h.Sum(nil)) != s.want {
			s.final = ErrContentSHA256Mismatch
		}
		return n, s.final
	}
	if err != nil {
		s.final = err
	}
	return n, err
}

// lineReader reads CRLF-terminated lines of bounded length and raw bytes from one buffer.
type lineReader struct{ br *bufio.Reader }

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, lineBufferSize)}
}

// readLine returns the next line without its CRLF. A line longer than maxChunkLine, or one
// ending in a bare LF, is ErrMalformedChunk; an early end of body is ErrIncompleteBody.
func (l *lineReader) readLine() (string, error) {
	line, err := l.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkLine {
		return "", ErrMalformedChunk.with("line too long")
	}
	if err != nil {
		return "", bodyErr(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", ErrMalformedChunk.with("line not terminated by CRLF")
	}
	return string(line[:len(line)-2]), nil
}

// readLooseLine is readLine for trailer lines, which may also end in a bare LF: minio-go
// writes "name:value\n" (the form the trailer signature signs) followed by CRLFs.
func (l *lineReader) readLooseLine() (string, error) {
	line, err := l.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkLine {
		return "", ErrMalformedChunk.with("line too long")
	}
	if err != nil {
		return "", bodyErr(err)
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return string(line), nil
}

// expectEnd checks that the body ends after the final chunk and its trailers; one more CRLF
// is tolerated (minio-go ends its trailer section with two).
func (l *lineReader) expectEnd() error {
	b, err := l.br.Peek(3)
	switch {
	case err == io.EOF && len(b) == 0:
		return nil
	case err == io.EOF && string(b) == "\r\n":
		_, _ = l.br.Discard(2)
		return nil
	case err == nil || err == io.EOF:
		return ErrMalformedChunk.with("data after the end of the aws-chunked body")
	}
	return err
}

type chunkState uint8

const (
	stHeader chunkState = iota // next: a chunk-size line
	stData                     // inside a chunk's data
	stDone                     // final chunk and trailers processed
)

// chunkedReader decodes an aws-chunked body:
//
//	signed:    hex(size) ";chunk-signature=" sig CRLF data CRLF ... "0;chunk-signature=" sig CRLF
//	unsigned:  hex(size) CRLF data CRLF ... "0" CRLF
//	then, without trailer: CRLF
//	      with trailer:    (name ":" value CRLF)* ["x-amz-trailer-signature:" sig CRLF] CRLF
//
// Chunk n's signature signs "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<sig n-1>\n<hash("")>\n
// <hash(data n)>" with sig 0 the request's (seed) signature; the trailer signature signs
// "AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<last chunk sig>\n<hash(trailer lines)>", each
// trailer line as "name:value\n".
type chunkedReader struct {
	src       *lineReader
	signed    bool
	trailer   bool
	sc        streamCtx
	prev      string // previous signature in the chain
	want      int64  // declared decoded length, -1 unknown
	cs        *checksumState
	chunkHash hash.Hash // SHA-256 of the current chunk (signed only)

	state     chunkState
	remaining int64  // bytes left in the current chunk
	chunkSig  string // signature claimed for the current chunk
	total     int64
	final     error // sticky: io.EOF or the first failure
}

var _ io.Reader = (*chunkedReader)(nil)

func (d *chunkedReader) Read(p []byte) (int, error) {
	if d.final != nil {
		return 0, d.final
	}
	for {
		switch d.state {
		case stHeader:
			size, err := d.readHeader()
			if err != nil {
				return 0, d.fail(err)
			}
			if size == 0 {
				if err := d.finish(); err != nil {
					return 0, d.fail(err)
				}
				d.state = stDone
				d.final = io.EOF
				return 0, io.EOF
			}
			if d.want >= 0 && d.total+size > d.want {
				return 0, d.fail(ErrIncompleteBody.with("chunks exceed x-amz-decoded-content-length"))
			}
			d.remaining = size
			d.state = stData
		case stData:
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > d.remaining {
				p = p[:d.remaining]
			}
			n, err := d.src.br.Read(p)
			d.remaining -= int64(n)
			d.total += int64(n)
			if d.chunkHash != nil {
				d.chunkHash.Write(p[:n])
			}
			d.cs.write(p[:n])
			if d.remaining == 0 {
				if err := d.endChunk(); err != nil {
					return n, d.fail(err)
				}
				d.state = stHeader
				return n, nil
			}
			if err != nil {
				return n, d.fail(bodyErr(err))
			}
			return n, nil
		default:
			return 0, d.fail(io.EOF)
		}
	}
}

func (d *chunkedReader) fail(err error) error {
	d.final = err
	return err
}

// readHeader parses a chunk-size line.
func (d *chunkedReader) readHeader() (int64, error) {
	line, err := d.src.readLine()
	if err != nil {
		return 0, err
	}
	sizeHex, ext, hasExt := strings.Cut(line, ";")
	if len(sizeHex) == 0 || len(sizeHex) > 15 || !isHex(sizeHex) {
		return 0, ErrMalformedChunk.with("bad chunk size")
	}
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	if err != nil || size < 0 {
		return 0, ErrMalformedChunk.with("bad chunk size")
	}
	if d.signed {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !hasExt || !ok || len(sig) != 64 || !isLowerHex(sig) {
			return 0, ErrMalformedChunk.with("missing or malformed chunk-signature")
		}
		d.chunkSig = sig
		d.chunkHash.Reset()
	}
	return size, nil
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (d *chunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(d.src.br, crlf[:]); err != nil {
		return bodyErr(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return ErrMalformedChunk.with("chunk data not followed by CRLF")
	}
	return d.checkChunkSig()
}

func (d *chunkedReader) checkChunkSig() error {
	if !d.signed {
		return nil
	}
	sts := stringToSign(algorithmPayload, d.sc.t, d.sc.scope, d.prev, emptySHA256, hex.EncodeToString(d.chunkHash.Sum(nil)))
	if !sigEqual(signHex(d.sc.key, sts), d.chunkSig) {
		return ErrSignatureDoesNotMatch.with("chunk signature")
	}
	d.prev = d.chunkSig
	return nil
}

// finish handles the zero-length final chunk: its signature, the trailers and the end-of-body
// checks (length, checksum).
func (d *chunkedReader) finish() error {
	if err := d.checkChunkSig(); err != nil {
		return err
	}
	if d.trailer {
		if err := d.readTrailers(); err != nil {
			return err
		}
	} else {
		line, err := d.src.readLine()
		if err != nil {
			return err
		}
		if line != "" {
			return ErrMalformedChunk.with("data after final chunk")
		}
	}
	if err := d.src.expectEnd(); err != nil {
		return err
	}
	if d.want >= 0 && d.total != d.want {
		return ErrIncompleteBody.with("decoded %d bytes, x-amz-decoded-content-length is %d", d.total, d.want)
	}
	return d.cs.verify()
}

// readTrailers reads the trailer section after the final chunk. Lines end in CRLF (the AWS
// SDKs) or a bare LF (minio-go); an empty line ends the section, except that with signed
// trailers empty lines before x-amz-trailer-signature are skipped (minio-go writes one).
func (d *chunkedReader) readTrailers() error {
	var signedPart bytes.Buffer
	var trailerSig string
	gotChecksum := false
	for i := 0; ; i++ {
		if i >= maxTrailerLines {
			return ErrMalformedChunk.with("too many trailer lines")
		}
		line, err := d.src.readLooseLine()
		if err != nil {
			return err
		}
		if line == "" {
			if d.signed && trailerSig == "" {
				if b, _ := d.src.br.Peek(1); len(b) > 0 {
					continue
				}
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return ErrMalformedChunk.with("trailer line without ':'")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			if !d.signed || trailerSig != "" {
				return ErrMalformedChunk.with("unexpected x-amz-trailer-signature")
			}
			trailerSig = value
			continue
		}
		if trailerSig != "" {
			return ErrMalformedChunk.with("trailer after x-amz-trailer-signature")
		}
		signedPart.WriteString(name + ":" + value + "\n")
		if d.cs == nil || !d.cs.trailer || name != d.cs.alg.HeaderName() || gotChecksum {
			return ErrInvalidRequest.with("trailer %.60q was not declared in x-amz-trailer", name)
		}
		if !validChecksumValue(d.cs.alg, value) {
			return ErrInvalidDigest.with("%s trailer is not base64 of the right size", name)
		}
		gotChecksum = true
		d.cs.value = value
	}
	if d.signed {
		if len(trailerSig) != 64 || !isLowerHex(trailerSig) {
			return ErrMalformedChunk.with("missing or malformed x-amz-trailer-signature")
		}
		sts := stringToSign(algorithmTrailer, d.sc.t, d.sc.scope, d.prev, sha256Hex(signedPart.String()))
		if !sigEqual(signHex(d.sc.key, sts), trailerSig) {
			return ErrSignatureDoesNotMatch.with("trailer signature")
		}
	}
	if d.cs != nil && d.cs.trailer && !gotChecksum {
		return ErrMalformedChunk.with("declared trailer %s missing", d.cs.alg.HeaderName())
	}
	return nil
}

// isHex reports whether s is only hex digits (either case); strconv.ParseInt alone would
// also accept a sign.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

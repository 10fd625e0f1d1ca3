package snapshot

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type rec struct {
	key, val string
	del      bool
}

func encodeStream(t *testing.T, h StreamHeader, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	sw, err := NewStreamWriter(&buf, h)
	if err != nil {
		t.Fatalf("NewStreamWriter: %v", err)
	}
	for _, r := range recs {
		if r.del {
			err = sw.Delete([]byte(r.key))
		} else {
			err = sw.Put([]byte(r.key), []byte(r.val))
		}
		if err != nil {
			t.Fatalf("record %q: %v", r.key, err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func decodeStream(r io.Reader) (StreamHeader, []rec, error) {
	sr, err := NewStreamReader(r)
	if err != nil {
		return StreamHeader{}, nil, err
	}
	var out []rec
	for {
		k, v, del, err := sr.Next()
		if err == io.EOF {
			return sr.Header(), out, nil
		}
		if err != nil {
			return sr.Header(), out, err
		}
		out = append(out, rec{string(k), string(v), del})
	}
}

func TestStreamRoundTrip(t *testing.T) {
	big := strings.Repeat("v", 200<<10) // larger than the reader's buffer
	cases := []struct {
		name string
		h    StreamHeader
		recs []rec
	}{
		{"empty full", StreamHeader{Kind: KindFull}, nil},
		{"full", StreamHeader{Kind: KindFull, Source: "1-2-3"}, []rec{{"", "empty key", false}, {"a", "", false}, {"b", "2", false}}},
		{"delta", StreamHeader{Kind: KindDelta, Parent: "7-8-9"}, []rec{{"a", "1", false}, {"b", "", true}, {"c", "3", false}}},
		{"large value", StreamHeader{Kind: KindFull}, []rec{{"k", big, false}, {"l", big, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeStream(t, tc.h, tc.recs)
			for _, r := range []io.Reader{bytes.NewReader(b), iotest.OneByteReader(bytes.NewReader(b)), iotest.DataErrReader(bytes.NewReader(b))} {
				h, got, err := decodeStream(r)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if h != tc.h {
					t.Fatalf("header %+v, want %+v", h, tc.h)
				}
				if len(got) != len(tc.recs) {
					t.Fatalf("%d records, want %d", len(got), len(tc.recs))
				}
				for i := range got {
					if got[i] != tc.recs[i] {
						t.Fatalf("record %d: %+v, want %+v", i, got[i], tc.recs[i])
					}
				}
			}
		})
	}
}

func TestStreamWriterErrors(t *testing.T) {
	cases := []struct {
		name string
		h    StreamHeader
		ops  func(sw *StreamWriter) error
		want error
	}{
		{"full with parent", StreamHeader{Kind: KindFull, Parent: "x"}, nil, ErrBadHeader},
		{"delta without parent", StreamHeader{Kind: KindDelta}, nil, ErrBadHeader},
		{"unknown kind", StreamHeader{Kind: 9}, nil, ErrBadHeader},
		{"long parent", StreamHeader{Kind: KindDelta, Parent: strings.Repeat("p", 2000)}, nil, ErrBadHeader},
		{"equal keys", StreamHeader{Kind: KindFull}, func(sw *StreamWriter) error {
			_ = sw.Put([]byte("a"), nil)
			return sw.Put([]byte("a"), nil)
		}, ErrKeyOrder},
		{"descending keys", StreamHeader{Kind: KindDelta, Parent: "p"}, func(sw *StreamWriter) error {
			_ = sw.Put([]byte("b"), nil)
			return sw.Delete([]byte("a"))
		}, ErrKeyOrder},
		{"tombstone in full", StreamHeader{Kind: KindFull}, func(sw *StreamWriter) error {
			return sw.Delete([]byte("a"))
		}, ErrTombstoneInFull},
		{"key too large", StreamHeader{Kind: KindFull}, func(sw *StreamWriter) error {
			return sw.Put(make([]byte, MaxKeySize+1), nil)
		}, ErrTooLarge},
		{"put after close", StreamHeader{Kind: KindFull}, func(sw *StreamWriter) error {
			_ = sw.Close()
			return sw.Put([]byte("a"), nil)
		}, ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sw, err := NewStreamWriter(io.Discard, tc.h)
			if err == nil && tc.ops != nil {
				err = tc.ops(sw)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestStreamDamage cuts a valid stream at every length and flips every byte: each must fail
// with an error (ErrTruncated for a cut), never end in a silent io.EOF.
func TestStreamDamage(t *testing.T) {
	good := encodeStream(t, StreamHeader{Kind: KindDelta, Parent: "1-2-3"},
		[]rec{{"alpha", "one", false}, {"beta", "", true}, {"gamma", "three", false}})
	for n := 0; n < len(good); n++ {
		_, _, err := decodeStream(bytes.NewReader(good[:n]))
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d: error %v, want ErrTruncated", n, len(good), err)
		}
	}
	for i := range good {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(good)
			bad[i] ^= mask
			_, _, err := decodeStream(bytes.NewReader(bad))
			if err == nil {
				t.Fatalf("byte %d ^ %#x: decoded without error", i, mask)
			}
		}
	}
}

func TestStreamReaderRejects(t *testing.T) {
	cases := []struct {
		name  string
		bytes []byte
		want  error
	}{
		{"empty", nil, ErrTruncated},
		{"not ours", []byte("PK\x03\x04 zip file here"), ErrBadHeader},
		{"future version", []byte("NBSS\x02\x01\x00\x00"), ErrBadHeader},
		{"huge key length", append([]byte("NBSS\x01\x01\x00\x00\x01"), 0xff, 0xff, 0xff, 0xff, 0x0f), ErrCorrupt},
		{"varint overflow", append([]byte("NBSS\x01\x01\x00\x00\x01"), bytes.Repeat([]byte{0xff}, 11)...), ErrCorrupt},
		{"unknown op", []byte("NBSS\x01\x01\x00\x00\x07"), ErrCorrupt},
		{"tombstone in full", []byte("NBSS\x01\x01\x00\x00\x02\x01a"), ErrTombstoneInFull},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeStream(bytes.NewReader(tc.bytes))
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

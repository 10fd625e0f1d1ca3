package s3

import (
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
)

// S3's checksum types: how the checksum of a multipart object relates to its parts.
const (
	checksumComposite  = "COMPOSITE"   // a checksum of the parts' checksums, "<base64>-<parts>"
	checksumFullObject = "FULL_OBJECT" // the checksum of the whole object (CRCs combined)
)

// Request headers of the checksum protocol (the values are sigv4's).
const (
	hdrChecksumAlgorithm = "X-Amz-Checksum-Algorithm"
	hdrChecksumType      = "X-Amz-Checksum-Type"
)

// checksumTypeOf is the type of a stored checksum value: composite values carry the "-N"
// suffix, which no full-object value has.
func checksumTypeOf(value string) string {
	if _, _, ok := sigv4.SplitComposite(value); ok {
		return checksumComposite
	}
	return checksumFullObject
}

// parseAlgorithmHeader reads x-amz-checksum-algorithm ("" when absent).
func parseAlgorithmHeader(hd http.Header) (sigv4.ChecksumAlgorithm, error) {
	v := hd.Get(hdrChecksumAlgorithm)
	if v == "" {
		return "", nil
	}
	alg, ok := sigv4.ParseChecksumAlgorithm(v)
	if !ok {
		return "", ErrInvalidRequest.with("Value for x-amz-checksum-algorithm header is invalid: %q; supported: CRC32, CRC32C, CRC64NVME, SHA1, SHA256", v)
	}
	return alg, nil
}

// uploadChecksum reads what CreateMultipartUpload declares: the algorithm and the type, the
// type defaulting as S3's does (FULL_OBJECT for CRC64NVME, COMPOSITE otherwise). SHA1 and
// SHA256 cannot be combined into a full-object value, and CRC64NVME has no composite form.
func uploadChecksum(hd http.Header) (alg sigv4.ChecksumAlgorithm, typ string, err error) {
	if alg, err = parseAlgorithmHeader(hd); err != nil {
		return "", "", err
	}
	typ = strings.ToUpper(hd.Get(hdrChecksumType))
	switch {
	case typ != "" && typ != checksumComposite && typ != checksumFullObject:
		return "", "", ErrInvalidRequest.with("Value for x-amz-checksum-type header is invalid: %q; COMPOSITE or FULL_OBJECT", typ)
	case typ != "" && alg == "":
		return "", "", ErrInvalidRequest.with("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
	case alg == "":
		return "", "", nil
	case typ == "" && alg == sigv4.ChecksumCRC64NVME:
		typ = checksumFullObject
	case typ == "":
		typ = checksumComposite
	}
	if typ == checksumFullObject && !alg.Combinable() {
		return "", "", ErrInvalidRequest.with("The FULL_OBJECT checksum type cannot be used with the %s checksum algorithm.", strings.ToLower(string(alg)))
	}
	if typ == checksumComposite && alg == sigv4.ChecksumCRC64NVME {
		return "", "", ErrInvalidRequest.with("The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
	}
	return alg, typ, nil
}

// payloadChecksum is the checksum a PUT or UploadPart stores: the one the client sent
// (verified by sigv4 as the body streamed), or one computed here when the client asked for an
// algorithm without sending a value (x-amz-checksum-algorithm alone) or when the upload needs
// one (a FULL_OBJECT upload's part).
type payloadChecksum struct {
	alg      sigv4.ChecksumAlgorithm
	computed hash.Hash // nil: the client's value, read from the authenticated request
}

// wantPayloadChecksum decides which checksum a body gets. need is the algorithm the
// operation requires ("" none); it conflicts with a client checksum of another algorithm.
func wantPayloadChecksum(rq *request, need sigv4.ChecksumAlgorithm) (*payloadChecksum, error) {
	asked, err := parseAlgorithmHeader(rq.r.Header)
	if err != nil {
		return nil, err
	}
	sent, hasSent := rq.auth.ChecksumAlgorithm()
	if asked != "" && hasSent && asked != sent {
		return nil, ErrInvalidRequest.with("x-amz-checksum-algorithm %s does not match the %s checksum sent", asked, sent)
	}
	if need == "" {
		need = asked
	}
	switch {
	case hasSent && need != "" && sent != need:
		return nil, ErrInvalidRequest.with("Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
			strings.ToLower(string(need)), strings.ToLower(string(sent)))
	case hasSent:
		return &payloadChecksum{alg: sent}, nil
	case need != "":
		h, _ := sigv4.NewChecksumHash(need)
		return &payloadChecksum{alg: need, computed: h}, nil
	}
	return nil, nil
}

// reader returns body, hashed when the checksum is computed here.
func (p *payloadChecksum) reader(body io.Reader) io.Reader {
	if p == nil || p.computed == nil {
		return body
	}
	return io.TeeReader(body, p.computed)
}

// pairs returns the checksum to store once the body has been read to its end.
func (p *payloadChecksum) pairs(rq *request) []fsm.Pair {
	if p == nil {
		return nil
	}
	if p.computed != nil {
		return []fsm.Pair{{Key: string(p.alg), Value: base64.StdEncoding.EncodeToString(p.computed.Sum(nil))}}
	}
	if c, ok := rq.auth.Checksum(); ok {
		return []fsm.Pair{{Key: string(c.Algorithm), Value: c.Value}}
	}
	return nil
}

// setChecksumHeaders sets x-amz-checksum-<alg> and x-amz-checksum-type for stored checksums.
func setChecksumHeaders(hd http.Header, sums []fsm.Pair) {
	for _, p := range sums {
		hd.Set("x-amz-checksum-"+strings.ToLower(p.Key), p.Value)
		hd.Set("x-amz-checksum-type", checksumTypeOf(p.Value))
	}
}

// checksumOf returns the value of algorithm alg among stored checksums.
func checksumOf(sums []fsm.Pair, alg sigv4.ChecksumAlgorithm) (string, bool) {
	for _, p := range sums {
		if p.Key == string(alg) {
			return p.Value, true
		}
	}
	return "", false
}

// checksumFields is the set of checksum elements of S3's XML (parts, completion results).
type checksumFields struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
}

func (c *checksumFields) field(alg sigv4.ChecksumAlgorithm) *string {
	switch alg {
	case sigv4.ChecksumCRC32:
		return &c.ChecksumCRC32
	case sigv4.ChecksumCRC32C:
		return &c.ChecksumCRC32C
	case sigv4.ChecksumCRC64NVME:
		return &c.ChecksumCRC64NVME
	case sigv4.ChecksumSHA1:
		return &c.ChecksumSHA1
	case sigv4.ChecksumSHA256:
		return &c.ChecksumSHA256
	}
	return nil
}

// fieldsOf fills the XML elements from stored checksums.
func fieldsOf(sums []fsm.Pair) checksumFields {
	var c checksumFields
	for _, p := range sums {
		if f := c.field(sigv4.ChecksumAlgorithm(p.Key)); f != nil {
			*f = p.Value
		}
	}
	return c
}

// sent returns the checksums given in the XML, by algorithm.
func (c *checksumFields) sent() []fsm.Pair {
	var out []fsm.Pair
	for _, alg := range sigv4.ChecksumAlgorithms {
		if v := *c.field(alg); v != "" {
			out = append(out, fsm.Pair{Key: string(alg), Value: strings.TrimSpace(v)})
		}
	}
	return out
}

// multipartChecksum computes a multipart object's checksum from its parts' values of alg:
// COMPOSITE is alg over the concatenated part digests, "-N" appended; FULL_OBJECT combines
// the parts' CRCs with their sizes.
func multipartChecksum(alg sigv4.ChecksumAlgorithm, typ string, parts []fsm.PartInfo) (string, error) {
	digests := make([][]byte, len(parts))
	for i, p := range parts {
		v, ok := checksumOf(p.Checksums, alg)
		if !ok {
			return "", ErrInvalidRequest.with("The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.",
				strings.ToLower(string(alg)), p.PartNumber)
		}
		d, ok := sigv4.DecodeChecksum(alg, v)
		if !ok {
			return "", fmt.Errorf("s3: part %d has a malformed stored %s checksum", p.PartNumber, alg)
		}
		digests[i] = d
	}
	if typ == checksumFullObject {
		acc := digests[0]
		for i := 1; i < len(parts); i++ {
			var ok bool
			if acc, ok = sigv4.CombineCRC(alg, acc, digests[i], int64(parts[i].Size)); !ok {
				return "", fmt.Errorf("s3: cannot combine %s checksums", alg)
			}
		}
		return base64.StdEncoding.EncodeToString(acc), nil
	}
	h, _ := sigv4.NewChecksumHash(alg)
	for _, d := range digests {
		h.Write(d)
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), len(parts)), nil
}

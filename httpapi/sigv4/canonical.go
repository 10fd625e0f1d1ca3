package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	algorithm        = "AWS4-HMAC-SHA256"
	algorithmPayload = "AWS4-HMAC-SHA256-PAYLOAD"
	algorithmTrailer = "AWS4-HMAC-SHA256-TRAILER"
	terminator       = "aws4_request"
	amzDateLayout    = "20060102T150405Z"
	scopeDateLayout  = "20060102"
	// emptySHA256 is hex(SHA-256("")), used in every chunk string-to-sign.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// uriEncode percent-encodes s as SigV4 specifies: every byte except the unreserved set
// A-Z a-z 0-9 - . _ ~ becomes %XX with upper-case hex; '/' is kept when keepSlash is set.
func uriEncode(s string, keepSlash bool) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		}
	}
	return b.String()
}

// canonicalURI returns the S3 canonical URI: the path as sent, each segment decoded once and
// re-encoded with uriEncode (S3 does not double-encode). An encoded slash (%2F) inside a
// segment stays encoded, so keys containing '/' written either way verify.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
		segs[i] = uriEncode(s, false)
	}
	return strings.Join(segs, "/")
}

// queryPair is one decoded query parameter.
type queryPair struct{ k, v string }

// parseQuery splits a raw query into decoded pairs in order, keeping empty values and
// duplicates (url.ParseQuery drops malformed pairs, which would change what is signed).
func parseQuery(raw string) []queryPair {
	var out []queryPair
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if d, err := url.QueryUnescape(k); err == nil {
			k = d
		}
		if d, err := url.QueryUnescape(v); err == nil {
			v = d
		}
		out = append(out, queryPair{k, v})
	}
	return out
}

// canonicalQuery encodes every pair except skip, sorted by encoded key then value.
func canonicalQuery(pairs []queryPair, skip string) string {
	enc := make([]queryPair, 0, len(pairs))
	for _, p := range pairs {
		if skip != "" && p.k == skip {
			continue
		}
		enc = append(enc, queryPair{uriEncode(p.k, false), uriEncode(p.v, false)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].k != enc[j].k {
			return enc[i].k < enc[j].k
		}
		return enc[i].v < enc[j].v
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// foldSpaces trims v and collapses each run of spaces into one, as SigV4 requires of header
// values.
func foldSpaces(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	prevSpace := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if prevSpace {
				continue
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// headerValue returns the canonical value of signed header name (lower case) in r. Go's server
// moves Host and Transfer-Encoding out of r.Header, so those come from the request fields.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		if r.Host != "" {
			return r.Host
		}
		return r.URL.Host
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return strings.Join(r.TransferEncoding, ",")
		}
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) == 0 && r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	}
	vals := r.Header.Values(name)
	for i := range vals {
		vals[i] = foldSpaces(vals[i])
	}
	return strings.Join(vals, ",")
}

// canonicalRequest builds the SigV4 canonical request:
//
//	Method \n CanonicalURI \n CanonicalQuery \n (name:value \n)* \n SignedHeaders \n PayloadHash
func canonicalRequest(r *http.Request, pairs []queryPair, skipQuery string, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(pairs, skipQuery))
	b.WriteByte('\n')
	for _, h := range signed {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signingKey derives kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service),
// "aws4_request").
func signingKey(secret string, date time.Time, region, service string) []byte {
	ck := signingKeyID{secret: secret, day: date.UTC().Format(scopeDateLayout), region: region, service: service}
	if k, ok := signingKeys.Load(ck); ok {
		return k.([]byte)
	}
	k := hmacSHA256([]byte("AWS4"+secret), ck.day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, terminator)
	// Bounded (about maxSigningKeys; concurrent callers may add a few more): when full it
	// starts over, and the keys in use are derived again once.
	if signingKeyCount.Add(1) > maxSigningKeys {
		signingKeys.Clear()
		signingKeyCount.Store(1)
	}
	signingKeys.Store(ck, k)
	return k
}

// signingKeys caches derived signing keys: deriving one costs four HMAC-SHA256, and a client
// signs every request of a day (for one region and service) with the same key. The entries
// hold what the verifier's lookup already holds (the secret) and keys derived from it; callers
// never modify a returned key.
var (
	signingKeys     sync.Map // signingKeyID → []byte
	signingKeyCount atomic.Int64
)

const maxSigningKeys = 1024

type signingKeyID struct{ secret, day, region, service string }

// stringToSign joins the SigV4 string-to-sign lines for algorithm alg.
func stringToSign(alg string, t time.Time, scope string, lines ...string) string {
	var b strings.Builder
	b.WriteString(alg)
	b.WriteByte('\n')
	b.WriteString(t.UTC().Format(amzDateLayout))
	b.WriteByte('\n')
	b.WriteString(scope)
	for _, l := range lines {
		b.WriteByte('\n')
		b.WriteString(l)
	}
	return b.String()
}

// signHex returns hex(HMAC(key, sts)).
func signHex(key []byte, sts string) string { return hex.EncodeToString(hmacSHA256(key, sts)) }

// sigEqual compares two hex signatures in constant time.
func sigEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

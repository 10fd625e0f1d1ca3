package sigv4

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// failingStore is a FallibleStore whose lookups of one key fail.
type failingStore struct {
	StaticStore
	bad string
	err error
}

func (s failingStore) LookupErr(key string) (string, bool, error) {
	if key == s.bad {
		return "", false, s.err
	}
	secret, ok := s.StaticStore.Lookup(key)
	return secret, ok, nil
}

func TestFallibleStore(t *testing.T) {
	boom := errors.New("cannot decrypt")
	v := testVerifier()
	v.Store = failingStore{StaticStore: NewStaticStore(Credentials{AccessKey: testAK, SecretKey: testSK}), bad: "BROKENKEY0000000", err: boom}

	r := clientReq(t, "GET", "http://s3.local/b/k", nil)
	sdkSign(t, r, UnsignedPayload, testSK, testRegion, testNow)
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("a key the store knows: %v", err)
	}

	r = clientReq(t, "GET", "http://s3.local/b/k", nil)
	sdkSign(t, r, UnsignedPayload, "other", testRegion, testNow)
	r.Header.Set("Authorization", replaceKey(r.Header.Get("Authorization"), "BROKENKEY0000000"))
	if _, err := v.Verify(r); !errors.Is(err, boom) {
		t.Fatalf("a failing lookup: %v, want the store's error", err)
	}

	r = clientReq(t, "GET", "http://s3.local/b/k", nil)
	sdkSign(t, r, UnsignedPayload, "other", testRegion, testNow)
	r.Header.Set("Authorization", replaceKey(r.Header.Get("Authorization"), "UNKNOWNKEY000000"))
	if _, err := v.Verify(r); !errors.Is(err, ErrInvalidAccessKeyID) {
		t.Fatalf("an unknown key: %v", err)
	}
}

func replaceKey(authz, key string) string {
	const p = "Credential="
	i := len(p) + strings.Index(authz, p)
	j := i + strings.Index(authz[i:], "/")
	return authz[:i] + key + authz[j:]
}

func TestAnonymous(t *testing.T) {
	v := testVerifier()
	body := []byte("hello, anonymous")
	cases := []struct {
		name    string
		payload string            // x-amz-content-sha256 ("" none)
		headers map[string]string // more headers
		wantErr error             // from Anonymous
		readErr error             // from reading the body
	}{
		{"no header", "", nil, nil, nil},
		{"unsigned", UnsignedPayload, nil, nil, nil},
		{"right digest", hexSHA(body), nil, nil, nil},
		{"wrong digest", hexSHA([]byte("other")), nil, nil, ErrContentSHA256Mismatch},
		{"bad checksum header", "", map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}, nil, ErrBadDigest},
		{"signed streaming", StreamingSignedPayload, nil, ErrMissingAuth, nil},
		{"signed streaming trailer", StreamingSignedPayloadTrailer, nil, ErrMissingAuth, nil},
		{"garbage mode", "SOMETHING", nil, ErrInvalidContentSHA256, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := clientReq(t, "PUT", "http://s3.local/b/k", body)
			if tc.payload != "" {
				r.Header.Set("X-Amz-Content-Sha256", tc.payload)
			}
			for k, val := range tc.headers {
				r.Header.Set(k, val)
			}
			if _, err := v.Verify(r); !errors.Is(err, ErrMissingAuth) {
				t.Fatalf("Verify of an unsigned request: %v", err)
			}
			res, err := v.Anonymous(r, VerifyOptions{})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Anonymous: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if res.AccessKey != "" || res.ContentLength != int64(len(body)) {
				t.Fatalf("result %+v", res)
			}
			got, err := io.ReadAll(res.Body)
			if tc.readErr != nil {
				if !errors.Is(err, tc.readErr) {
					t.Fatalf("read: %v, want %v", err, tc.readErr)
				}
				return
			}
			if err != nil || string(got) != string(body) {
				t.Fatalf("read %q %v", got, err)
			}
		})
	}
}

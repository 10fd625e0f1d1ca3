package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/iam"
	"github.com/nebulaio/nebulaio/internal/authlimit"
	"github.com/nebulaio/nebulaio/internal/metrics"
)

var testKeys = func() *iam.Keyring {
	k, err := iam.NewKeyring(bytes.Repeat([]byte{3}, iam.MasterKeySize))
	if err != nil {
		panic(err)
	}
	return k
}()

// fsmStore is an IdentityStore over a real FSM that applies each proposal at once (a cluster
// of one without raft).
type fsmStore struct {
	*fsm.FSM
	mu    sync.Mutex
	index uint64
}

func newFSMStore() *fsmStore { return &fsmStore{FSM: fsm.New(fsm.Options{})} }

func (s *fsmStore) Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error) {
	b, err := fsm.Encode(ev)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index++
	return s.Apply(&raft.Log{Index: s.index, Term: 1, Type: raft.LogCommand, Data: b}).(*fsm.Result), nil
}

func (s *fsmStore) Sync(context.Context) error { return nil }

type countMetrics struct {
	metrics.Nop
	mu sync.Mutex
	c  map[string]float64
}

func (m *countMetrics) Counter(name string, d float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.c[name] += d
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestIdentityAPI: users and policies through the admin API; a secret key is in the answer of
// its creation or rotation only, sealed in the metadata, and never in a later answer.
func TestIdentityAPI(t *testing.T) {
	st := newFSMStore()
	srv := httptest.NewServer(NewAdminHandler(AdminOptions{Registry: NewRegistry(), Token: "tok", Identities: st, Keys: testKeys}))
	defer srv.Close()
	req := func(method, path, body string, want int) []byte {
		t.Helper()
		code, b := call(t, srv, method, path, "tok", body)
		if code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
		}
		return b
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::a","arn:aws:s3:::a/*"]}]}`
	req("PUT", "/api/v1/admin/policies/only-a", doc, 200)
	if b := req("PUT", "/api/v1/admin/policies/bad", `{"Statement":[{"Effect":"Allow","Action":"s3:GetObjcet","Resource":"*"}]}`, 400); !strings.Contains(string(b), "malformed_policy") || !strings.Contains(string(b), "GetObjcet") {
		t.Fatalf("malformed policy answer: %s", b)
	}
	req("POST", "/api/v1/admin/users", `{"name":"app","policies":["nope"]}`, 404)
	req("POST", "/api/v1/admin/users", `{"name":"bad name"}`, 400)
	req("POST", "/api/v1/admin/users", `{"name":"app","extra":1}`, 400)
	var created KeyAnswer
	if err := json.Unmarshal(req("POST", "/api/v1/admin/users", `{"name":"app","policies":["only-a"]}`, 201), &created); err != nil {
		t.Fatal(err)
	}
	if created.SecretKey == "" || created.AccessKey == "" || created.User.Status != "active" || len(created.User.Policies) != 1 {
		t.Fatalf("created %+v", created)
	}
	req("POST", "/api/v1/admin/users", `{"name":"app"}`, 409)
	// Sealed in the metadata; shown nowhere after.
	u, err := st.User("app")
	if err != nil || strings.Contains(u.SealedSecret, created.SecretKey) {
		t.Fatalf("stored user %v", err)
	}
	if got, err := testKeys.Open("app", created.AccessKey, u.SealedSecret); err != nil || got != created.SecretKey {
		t.Fatalf("sealed secret opens to %q %v", got, err)
	}
	for _, path := range []string{"/api/v1/admin/users", "/api/v1/admin/users/app", "/api/v1/admin/keys"} {
		b := req("GET", path, "", 200)
		if strings.Contains(string(b), created.SecretKey) || !strings.Contains(string(b), created.AccessKey) {
			t.Fatalf("GET %s: %s", path, b)
		}
	}
	if b := req("POST", "/api/v1/admin/users/app/disable", "", 200); !strings.Contains(string(b), `"status":"disabled"`) {
		t.Fatalf("disable: %s", b)
	}
	req("POST", "/api/v1/admin/users/app/enable", "", 200)
	var rotated KeyAnswer
	if err := json.Unmarshal(req("POST", "/api/v1/admin/users/app/rotate", "", 200), &rotated); err != nil {
		t.Fatal(err)
	}
	u, _ = st.User("app")
	if got, _ := testKeys.Open("app", u.AccessKey, u.SealedSecret); rotated.SecretKey == created.SecretKey || got != rotated.SecretKey || rotated.AccessKey != created.AccessKey {
		t.Fatalf("rotation: %+v", rotated)
	}
	req("POST", "/api/v1/admin/users/nobody/rotate", "", 404)
	req("DELETE", "/api/v1/admin/policies/only-a", "", 409) // attached
	req("DELETE", "/api/v1/admin/users/app/policies/only-a", "", 200)
	req("DELETE", "/api/v1/admin/users/app/policies/only-a", "", 404)
	req("PUT", "/api/v1/admin/users/app/policies/only-a", "", 200)
	if b := req("GET", "/api/v1/admin/policies/only-a", "", 200); !strings.Contains(string(b), `"Resource":["arn:aws:s3:::a"`) {
		t.Fatalf("policy: %s", b)
	}
	req("GET", "/api/v1/admin/policies", "", 200)
	req("DELETE", "/api/v1/admin/users/app", "", 200)
	req("GET", "/api/v1/admin/users/app", "", 404)
	req("DELETE", "/api/v1/admin/policies/only-a", "", 200)
	// Given keys are checked.
	req("POST", "/api/v1/admin/users", `{"name":"ci","access_key":"short"}`, 400)
	var given KeyAnswer
	_ = json.Unmarshal(req("POST", "/api/v1/admin/users", `{"name":"ci","access_key":"CIACCESSKEY000000001","secret_key":"ci-secret-123"}`, 201), &given)
	if given.AccessKey != "CIACCESSKEY000000001" || given.SecretKey != "ci-secret-123" {
		t.Fatalf("given keys: %+v", given)
	}
	req("POST", "/api/v1/admin/users", `{"name":"ci2","access_key":"CIACCESSKEY000000001"}`, 409)
}

// TestAdminTokenFailuresLimited: wrong tokens from one address use up its bucket; then even
// the right token gets 429 until it refills; the probes are never limited.
func TestAdminTokenFailuresLimited(t *testing.T) {
	m := &countMetrics{c: map[string]float64{}}
	srv := httptest.NewServer(NewAdminHandler(AdminOptions{Registry: NewRegistry(), Token: "tok", Identities: newFSMStore(), Keys: testKeys,
		AuthLimit: authlimit.Config{Burst: 2, Rate: 0.01}, Metrics: m}))
	defer srv.Close()
	for i := 0; i < 2; i++ {
		if code, _ := call(t, srv, "GET", "/api/v1/admin/users", "wrong", ""); code != 401 {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code, b := call(t, srv, "GET", "/api/v1/admin/users", "tok", ""); code != 429 || !strings.Contains(string(b), "too_many_auth_failures") {
		t.Fatalf("after the burst: %d %s", code, b)
	}
	if code, _ := call(t, srv, "GET", "/health/live", "", ""); code != 200 {
		t.Fatalf("probe limited: %d", code)
	}
	if m.c[MetricAdminAuthFailures] != 2 || m.c[MetricAdminAuthThrottled] != 1 {
		t.Fatalf("metrics %v", m.c)
	}
}

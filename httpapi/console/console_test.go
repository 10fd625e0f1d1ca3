package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "s3cret-admin-token"

// fakeSource serves fixed views; fakeActions records what was asked.
type fakeSource struct {
	cluster ClusterView
	storage StorageView
	buckets BucketsView
	err     error
	ready   bool
}

func (f *fakeSource) Cluster(context.Context) (ClusterView, error) { return f.cluster, f.err }
func (f *fakeSource) Storage(context.Context) (StorageView, error) { return f.storage, f.err }
func (f *fakeSource) Buckets(context.Context) (BucketsView, error) { return f.buckets, f.err }
func (f *fakeSource) Ready() (bool, string)                        { return f.ready, "no leader" }

type fakeActions struct {
	mu     sync.Mutex
	calls  []string
	err    error
	leader string
}

func (f *fakeActions) record(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	return f.err
}
func (f *fakeActions) Promote(_ context.Context, id string) error { return f.record("promote " + id) }
func (f *fakeActions) Demote(_ context.Context, id string) error  { return f.record("demote " + id) }
func (f *fakeActions) Drain(_ context.Context, id string) error   { return f.record("drain " + id) }
func (f *fakeActions) Remove(_ context.Context, id string) error  { return f.record("remove " + id) }
func (f *fakeActions) TransferLeadership(_ context.Context, to string) (string, error) {
	return f.leader, f.record("transfer " + to)
}
func (f *fakeActions) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func fakeCluster() ClusterView {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var pts []LatencyPoint
	for i := range 30 {
		p := LatencyPoint{Start: t0.Add(time.Duration(i) * 10 * time.Second)}
		if i%3 != 0 {
			p.Count, p.P50, p.P99 = 100, time.Duration(2+i%4)*time.Millisecond, time.Duration(10+i)*time.Millisecond
		}
		pts = append(pts, p)
	}
	return ClusterView{
		ClusterID: "c-7f3a", ThisNode: "node-2", LeaderID: "node-1", Term: 4, CommitIndex: 1200,
		Nodes: []NodeRow{
			{ID: "node-1", Role: "hybrid", Voter: true, InRaft: true, RaftState: "Leader", GossipStatus: "alive", AppliedIndex: 1200, CommitIndex: 1200},
			{ID: "node-2", Role: "hybrid", Voter: true, InRaft: true, RaftState: "Follower", GossipStatus: "alive", LastContactMS: 40, AppliedIndex: 1195, CommitIndex: 1199},
			{ID: "node-3", Role: "storage", InRaft: true, RaftState: "unknown", GossipStatus: "dead", LastContactMS: -1, Drain: "draining"},
		},
		Latency: pts,
		Events:  []Event{{At: t0, Kind: "leader", Text: "node-1 elected leader (term 4)"}},
	}
}

type fixture struct {
	t       *testing.T
	srv     *httptest.Server
	src     *fakeSource
	acts    *fakeActions
	mu      sync.Mutex
	now     time.Time
	handler *Handler
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, now: time.Date(2026, 12, 7, 9, 5, 0, 0, time.UTC)}
	f.src = &fakeSource{cluster: fakeCluster(), ready: true,
		storage: StorageView{Factor: 3,
			Nodes: []StorageNode{
				{ID: "node-1", Role: "hybrid", HoldsData: true, TotalBytes: 100 << 30, UsedBytes: 40 << 30, FreeBytes: 60 << 30, ReserveBytes: 1 << 30},
				{ID: "node-3", Role: "storage", HoldsData: true, Error: "did not answer"},
			},
			Replication: &Replication{Checked: 5000, UnderReplicated: 12, PassAt: f.now.Add(-time.Minute)},
			Tasks: []Task{
				{Name: "drain node-3", State: "draining", Done: 3 << 30, Total: 12 << 30, Unit: "bytes", ETA: 90 * time.Second},
				{Name: "repair", State: "idle", ETA: -1, Detail: "copies made 4"},
			}},
		buckets: BucketsView{Objects: 1500, Bytes: 3 << 20, CountedAt: f.now,
			Buckets: []BucketRow{{Name: "photos", Versioning: "Enabled", Objects: 1000, Bytes: 2 << 20}, {Name: "logs", Versioning: "Unversioned", ObjectLock: true, Objects: 500, Bytes: 1 << 20}}},
	}
	f.acts = &fakeActions{leader: "node-2"}
	h, err := New(Options{NodeID: "node-2", Token: testToken, Source: f.src, Actions: f.acts, Now: f.clock,
		SessionIdle: 10 * time.Minute, SessionMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.handler = h
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// client is a browser: a cookie jar, and no automatic redirects (tests look at them).
func (f *fixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (f *fixture) do(c *http.Client, method, path string, form url.Values, hdr ...string) answer {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

func (f *fixture) login(c *http.Client) string {
	f.t.Helper()
	a := f.do(c, "POST", "/login", url.Values{"token": {testToken}, "next": {"/storage"}})
	if a.status != http.StatusSeeOther || a.location != "/storage" {
		f.t.Fatalf("login: %d to %q: %s", a.status, a.location, a.body)
	}
	return f.csrf(c)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (f *fixture) csrf(c *http.Client) string {
	f.t.Helper()
	a := f.do(c, "GET", "/cluster", nil)
	m := csrfRe.FindStringSubmatch(a.body)
	if a.status != 200 || m == nil {
		f.t.Fatalf("cluster page after login: %d, no csrf token:\n%s", a.status, a.body)
	}
	return m[1]
}

func mustContain(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

func TestNothingReadableWithoutLogin(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	for _, p := range []string{"/", "/cluster", "/storage", "/buckets", "/confirm?action=remove&node=node-1"} {
		a := f.do(c, "GET", p, nil)
		if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/login?next=") {
			t.Errorf("GET %s without a session: %d to %q, want a redirect to /login", p, a.status, a.location)
		}
		if strings.Contains(a.body, "c-7f3a") || strings.Contains(a.body, "photos") || strings.Contains(a.body, "Follower") {
			t.Errorf("GET %s without a session shows the cluster: %s", p, a.body)
		}
	}
	for _, p := range []string{"/action", "/logout"} {
		a := f.do(c, "POST", p, url.Values{"action": {"remove"}, "node": {"node-1"}, "confirm": {"yes"}})
		if a.status != http.StatusForbidden {
			t.Errorf("POST %s without a session: %d, want 403", p, a.status)
		}
	}
	if calls := f.acts.Calls(); len(calls) != 0 {
		t.Fatalf("actions ran without a session: %v", calls)
	}
	// The public page says up/ready, and names no node.
	a := f.do(c, "GET", "/up", nil)
	mustContain(t, "/up", a.body, "This node is up and ready")
	if a.status != 200 || strings.Contains(a.body, "node-") {
		t.Fatalf("/up: %d %s", a.status, a.body)
	}
	f.src.ready = false
	if a := f.do(c, "GET", "/up", nil); a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "not ready") {
		t.Fatalf("/up while not ready: %d %s", a.status, a.body)
	}
	if a := f.do(c, "GET", "/static/console.css", nil); a.status != 200 {
		t.Fatalf("the stylesheet needs no session: %d", a.status)
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	for _, tc := range []struct {
		name, token string
	}{{"empty", ""}, {"wrong", "nope"}, {"prefix", testToken[:5]}, {"longer", testToken + "x"}} {
		a := f.do(c, "POST", "/login", url.Values{"token": {tc.token}})
		if a.status != http.StatusUnauthorized || a.header.Get("Set-Cookie") != "" {
			t.Fatalf("%s token: %d, cookie %q", tc.name, a.status, a.header.Get("Set-Cookie"))
		}
		mustContain(t, "failed login", a.body, "Wrong admin token")
	}
	// A login form posted from another site is refused.
	if a := f.do(c, "POST", "/login", url.Values{"token": {testToken}}, "Origin", "https://evil.example"); a.status != http.StatusForbidden {
		t.Fatalf("cross-origin login: %d", a.status)
	}
	// The right token: a session cookie with the promised attributes, and a redirect to a
	// local page only.
	a := f.do(c, "POST", "/login", url.Values{"token": {testToken}, "next": {"//evil.example/x"}})
	if a.status != http.StatusSeeOther || a.location != "/cluster" {
		t.Fatalf("login with an off-site next: %d to %q", a.status, a.location)
	}
	ck := a.header.Get("Set-Cookie")
	for _, w := range []string{CookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, w) {
			t.Fatalf("session cookie %q lacks %s", ck, w)
		}
	}
	a = f.do(c, "GET", "/cluster", nil)
	if a.status != 200 {
		t.Fatalf("cluster page after login: %d", a.status)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if a.header.Get(h) == "" {
			t.Fatalf("no %s header", h)
		}
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", a.header.Get("Cache-Control"))
	}
	// Logging out ends the session on the server (the old cookie no longer works).
	token := csrfRe.FindStringSubmatch(a.body)[1]
	old := c.Jar.Cookies(mustURL(f.srv.URL))
	if a := f.do(c, "POST", "/logout", url.Values{"csrf": {token}}); a.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", a.status)
	}
	c2 := f.client()
	c2.Jar.SetCookies(mustURL(f.srv.URL), old)
	if a := f.do(c2, "GET", "/cluster", nil); a.status != http.StatusSeeOther {
		t.Fatalf("the cookie of a logged-out session still works: %d", a.status)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestCSRFRefusal(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	token := f.login(c)
	other := f.client()
	otherToken := f.login(other)
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", url.Values{"action": {"remove"}, "node": {"node-3"}, "confirm": {"yes"}}, nil},
		{"wrong token", url.Values{"csrf": {"forged"}, "action": {"remove"}, "node": {"node-3"}, "confirm": {"yes"}}, nil},
		{"another session's token", url.Values{"csrf": {otherToken}, "action": {"remove"}, "node": {"node-3"}, "confirm": {"yes"}}, nil},
		{"cross-site origin", url.Values{"csrf": {token}, "action": {"remove"}, "node": {"node-3"}, "confirm": {"yes"}}, []string{"Origin", "https://evil.example"}},
		{"opaque origin", url.Values{"csrf": {token}, "action": {"remove"}, "node": {"node-3"}, "confirm": {"yes"}}, []string{"Origin", "null"}},
	} {
		a := f.do(c, "POST", "/action", tc.form, tc.hdr...)
		if a.status != http.StatusForbidden {
			t.Fatalf("%s: %d, want 403", tc.name, a.status)
		}
		mustContain(t, tc.name, a.body, "nothing was done")
	}
	// Logout needs the token too.
	if a := f.do(c, "POST", "/logout", url.Values{"csrf": {"forged"}}); a.status != http.StatusForbidden {
		t.Fatalf("logout without the token: %d", a.status)
	}
	// Unconfirmed: 400, nothing done.
	if a := f.do(c, "POST", "/action", url.Values{"csrf": {token}, "action": {"remove"}, "node": {"node-3"}}); a.status != http.StatusBadRequest {
		t.Fatalf("unconfirmed action: %d", a.status)
	}
	if calls := f.acts.Calls(); len(calls) != 0 {
		t.Fatalf("refused forms ran actions: %v", calls)
	}
	// With the token, from the same origin: done.
	a := f.do(c, "POST", "/action", url.Values{"csrf": {token}, "action": {"remove"}, "node": {"node-3"}, "confirm": {"yes"}}, "Origin", f.srv.URL)
	if a.status != http.StatusSeeOther || a.location != "/cluster" {
		t.Fatalf("confirmed remove: %d to %q: %s", a.status, a.location, a.body)
	}
	if calls := f.acts.Calls(); len(calls) != 1 || calls[0] != "remove node-3" {
		t.Fatalf("calls %v", calls)
	}
}

func TestSessionExpiry(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	token := f.login(c)
	// Requests within the idle time keep the session alive up to the maximum lifetime.
	for range 6 {
		f.advance(9 * time.Minute)
		if a := f.do(c, "GET", "/buckets", nil); a.status != 200 {
			t.Fatalf("active session ended early: %d", a.status)
		}
	}
	f.advance(7 * time.Minute) // 61 minutes after login: past SessionMax
	if a := f.do(c, "GET", "/buckets", nil); a.status != http.StatusSeeOther || a.location != "/login?next=%2Fbuckets" {
		t.Fatalf("session past its maximum age: %d to %q", a.status, a.location)
	}
	if a := f.do(c, "POST", "/action", url.Values{"csrf": {token}, "action": {"drain"}, "node": {"node-3"}, "confirm": {"yes"}}); a.status != http.StatusForbidden {
		t.Fatalf("action with an expired session: %d", a.status)
	}
	// Idle expiry.
	f.login(c)
	f.advance(10 * time.Minute)
	if a := f.do(c, "GET", "/cluster", nil); a.status != http.StatusSeeOther {
		t.Fatalf("idle session still valid: %d", a.status)
	}
	if calls := f.acts.Calls(); len(calls) != 0 {
		t.Fatalf("expired sessions ran actions: %v", calls)
	}
}

func TestPagesRender(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.login(c)
	a := f.do(c, "GET", "/cluster", nil)
	mustContain(t, "cluster page", a.body,
		`id="cluster-id">c-7f3a<`, `id="leader">node-1<`, `id="node-node-1" data-node="node-1" class="leader" data-leader="true"`,
		`id="node-node-2"`, `id="node-node-3"`, ">this node<", ">draining<", "non-voter", "Follower", "dead", "40.0 ms",
		`<svg id="latency-chart"`, `<polyline points="`, "node-1 elected leader (term 4)",
		`id="transfer-leadership"`, `data-action="promote" data-node="node-3"`, `data-action="demote" data-node="node-2"`,
		`data-action="transfer" data-node="node-2"`, `data-action="drain"`, `data-action="remove"`)
	// node-2's lag: the leader's commit index 1200 minus its applied 1195.
	if !regexp.MustCompile(`(?s)id="node-node-2".*?<td>1195</td>\s*<td>1199</td>\s*<td>5</td>`).MatchString(a.body) {
		t.Fatalf("node-2's applied/commit/lag cells are wrong:\n%s", a.body)
	}
	a = f.do(c, "GET", "/storage", nil)
	mustContain(t, "storage page", a.body, `id="disk-node-1"`, "100.0 GiB", "40.0 GiB", `value="40"`, "unknown: did not answer",
		`id="under-replicated">12<`, "drain node-3", "3.0 GiB of 12.0 GiB (25%)", "1m30s", "copies made 4", "unknown")
	a = f.do(c, "GET", "/buckets", nil)
	mustContain(t, "buckets page", a.body, `id="bucket-count">2<`, `id="object-count">1500<`, `id="bucket-photos"`, "Enabled", "Unversioned", "enabled", "2.0 MiB")
	f.src.buckets.Partial = true
	mustContain(t, "partial buckets page", f.do(c, "GET", "/buckets", nil).body, "at least 1500", "stopped early")

	// A load error is shown, not hidden.
	f.src.err = errors.New("the node is still starting")
	mustContain(t, "cluster page with an error", f.do(c, "GET", "/cluster", nil).body, "Could not load everything: the node is still starting")
	f.src.err = nil

	// An empty cluster view (no leader, no samples) renders too.
	f.src.cluster = ClusterView{ThisNode: "node-2"}
	a = f.do(c, "GET", "/cluster", nil)
	mustContain(t, "empty cluster page", a.body, `id="cluster-id">not set<`, `id="leader">none<`, `id="transfer-leadership" disabled`, "No commit proposed")
	if a := f.do(c, "GET", "/nope", nil); a.status != 404 {
		t.Fatalf("unknown page: %d", a.status)
	}
}

func TestActionsConfirmAndReport(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	token := f.login(c)
	// The confirmation page acts on nothing and carries the token.
	a := f.do(c, "GET", "/confirm?action=transfer", nil)
	mustContain(t, "confirm page", a.body, "Transfer leadership to any up-to-date voter?", `name="confirm" value="yes"`, `name="csrf" value="`+token+`"`, `id="confirm"`)
	a = f.do(c, "GET", "/confirm?action=drain&node=node-3", nil)
	mustContain(t, "confirm page", a.body, "Drain node-3?", `name="node" value="node-3"`)
	if a := f.do(c, "GET", "/confirm?action=format&node=node-3", nil); a.status != http.StatusBadRequest {
		t.Fatalf("unknown action: %d", a.status)
	}
	if a := f.do(c, "GET", "/confirm?action=remove", nil); a.status != http.StatusBadRequest {
		t.Fatalf("remove without a node: %d", a.status)
	}
	if calls := f.acts.Calls(); len(calls) != 0 {
		t.Fatalf("GETs ran actions: %v", calls)
	}

	post := func(action, node string) string {
		a := f.do(c, "POST", "/action", url.Values{"csrf": {token}, "action": {action}, "node": {node}, "confirm": {"yes"}})
		if a.status != http.StatusSeeOther {
			t.Fatalf("%s %s: %d %s", action, node, a.status, a.body)
		}
		page := f.do(c, "GET", a.location, nil).body
		m := regexp.MustCompile(`id="flash" class="flash (ok|bad)">([^<]*)<`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s %s: no result message on the cluster page", action, node)
		}
		// The message shows once.
		if strings.Contains(f.do(c, "GET", "/cluster", nil).body, `id="flash"`) {
			t.Fatalf("%s: the result message shows twice", action)
		}
		return m[1] + ": " + m[2]
	}
	for _, tc := range []struct{ action, node, want string }{
		{"promote", "node-3", "ok: node-3 promoted to voter"},
		{"demote", "node-2", "ok: node-2 demoted to non-voter"},
		{"drain", "node-3", "ok: drain of node-3 started"},
		{"remove", "node-3", "ok: node-3 removed"},
		{"transfer", "", "ok: leadership transferred: the leader is now node-2"},
	} {
		if got := post(tc.action, tc.node); got != tc.want {
			t.Fatalf("%s: %q, want %q", tc.action, got, tc.want)
		}
	}
	want := []string{"promote node-3", "demote node-2", "drain node-3", "remove node-3", "transfer "}
	if got := f.acts.Calls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	// Failures and unavailable actions are reported as such, never as success.
	f.acts.err = fmt.Errorf("drain lands with issue 16: %w", ErrNotAvailable)
	if got := post("drain", "node-3"); !strings.HasPrefix(got, "bad: Drain is not available on this build: nothing was done") {
		t.Fatalf("unavailable drain: %q", got)
	}
	f.acts.err = errors.New("last_voter: node-1 is the last voter")
	if got := post("demote", "node-1"); got != "bad: Demote failed: last_voter: node-1 is the last voter" {
		t.Fatalf("failed demote: %q", got)
	}
}

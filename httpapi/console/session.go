package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// CookieName is the console's session cookie.
const CookieName = "nebulaio_console"

// Session lifetimes (Options.SessionIdle, Options.SessionMax): a session ends after this long
// without a request, or this long after login, whichever comes first.
const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
	// maxSessions bounds the sessions kept: a login beyond it ends the oldest one.
	maxSessions = 256
)

// session is one logged-in operator. csrf is the token every state-changing form carries;
// flash is a one-time message for the next page (the result of an action).
type session struct {
	id      string
	csrf    string
	created time.Time
	seen    time.Time
	flash   *flash
}

type flash struct {
	OK   bool
	Text string
}

// sessions holds the logged-in sessions in memory: a restart logs everyone out, and each node
// has its own (a console is per node; so is its address).
type sessions struct {
	idle, max time.Duration
	now       func() time.Time

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(idle, max time.Duration, now func() time.Time) *sessions {
	return &sessions{idle: idle, max: max, now: now, m: map[string]*session{}}
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("console: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session and returns a copy of it.
func (s *sessions) create() session {
	now := s.now()
	ss := &session{id: randomToken(), csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	for len(s.m) >= maxSessions {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.created.Before(oldest.created) {
				oldest = o
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[ss.id] = ss
	return *ss
}

func (s *sessions) expireLocked(now time.Time) {
	for id, ss := range s.m {
		if s.expired(ss, now) {
			delete(s.m, id)
		}
	}
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) >= s.idle || now.Sub(ss.created) >= s.max
}

// get returns the session of the request's cookie, renewing its idle time; ok is false when
// there is none or it expired (an expired one is forgotten).
func (s *sessions) get(r *http.Request) (session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[c.Value]
	if !ok {
		return session{}, false
	}
	if s.expired(ss, now) {
		delete(s.m, ss.id)
		return session{}, false
	}
	ss.seen = now
	return *ss, true
}

// end forgets a session.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// setFlash leaves a message for the session's next page; takeFlash returns and clears it.
func (s *sessions) setFlash(id string, f flash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[id]; ok {
		ss.flash = &f
	}
}

func (s *sessions) takeFlash(id string) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return nil
	}
	f := ss.flash
	ss.flash = nil
	return f
}

// validCSRF compares a form's token with the session's in constant time.
func validCSRF(ss session, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

// sessionCookie is the cookie of a new session (or, with an empty id, the one that clears
// it): HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure
// when the console is served over TLS, scoped to the whole console.
func sessionCookie(r *http.Request, id string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if id == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge.Seconds())
	}
	return c
}

package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi/sigv4"
	"github.com/nebulaio/nebulaio/iam"
	"github.com/nebulaio/nebulaio/internal/authlimit"
)

// Authentication: who sent a request (see doc.go, "Identities and access").
//
//   - The root credentials (Options.Credentials) are the root principal: every action is
//     allowed, whatever the policies say.
//   - An access key of a user in the metadata (fsm.UserInfo) whose secret Options.Keys opens
//     is that user, unless the user is disabled: a disabled user's key is unknown
//     (InvalidAccessKeyId), as AWS answers for an inactive key. A secret this node cannot
//     open (nodes given different master keys) is an InternalError, logged with both key IDs.
//   - A request without any signature is anonymous (sigv4.Verifier.Anonymous prepares its
//     payload).
//
// An access key this node does not know may belong to a user created a moment ago through
// another node, whose event this follower has not applied yet: before answering
// InvalidAccessKeyId, the store waits once for a read barrier (Backend.Sync, at most
// unknownKeySyncTimeout) and looks again. So a key works on every node as soon as the call
// that created it has answered. Only unknown keys pay for the barrier, and guessing is
// limited per address below. (A user deleted or disabled a moment ago may still pass on a
// lagging follower until it applies the change: the converse would put a barrier on every
// request.)
//
// Failures that guess credentials — SignatureDoesNotMatch and InvalidAccessKeyId, on requests
// and POST forms — count against the source address's bucket (internal/authlimit); while it
// is empty, requests from that address get 503 SlowDown before their signature is checked.

// ErrSlowDown: the source address failed to authenticate too often (Retry-After is set).
var ErrSlowDown = &Error{"SlowDown", http.StatusServiceUnavailable, "Please reduce your request rate."}

// credentialStore resolves access keys: the root credentials first, then the users in the
// metadata (sigv4.FallibleStore).
type credentialStore struct {
	root map[string]string
	meta Metadata
	keys *iam.Keyring // nil: users cannot authenticate
	// sync waits for a read barrier (Backend.Sync); nil in tests without one.
	sync func(ctx context.Context) error
}

// unknownKeySyncTimeout bounds the read barrier an unknown access key waits for.
const unknownKeySyncTimeout = 3 * time.Second

var _ sigv4.FallibleStore = (*credentialStore)(nil)

func (s *credentialStore) Lookup(accessKey string) (string, bool) {
	secret, ok, err := s.LookupErr(accessKey)
	return secret, ok && err == nil
}

func (s *credentialStore) LookupErr(accessKey string) (string, bool, error) {
	if secret, ok := s.root[accessKey]; ok {
		return secret, true, nil
	}
	u, ok, err := s.user(accessKey)
	if err != nil || !ok {
		return "", false, err
	}
	secret, err := s.keys.Open(u.Name, u.AccessKey, u.SealedSecret)
	if err != nil {
		return "", false, fmt.Errorf("s3: access key %s: %w", accessKey, err)
	}
	return secret, true, nil
}

// user returns the enabled user holding accessKey.
func (s *credentialStore) user(accessKey string) (fsm.UserInfo, bool, error) {
	if s.keys == nil {
		return fsm.UserInfo{}, false, nil
	}
	u, err := s.meta.UserByAccessKey(accessKey)
	if errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchUser}) && s.sync != nil {
		ctx, cancel := context.WithTimeout(context.Background(), unknownKeySyncTimeout)
		serr := s.sync(ctx)
		cancel()
		if serr == nil {
			u, err = s.meta.UserByAccessKey(accessKey)
		}
	}
	switch {
	case errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchUser}):
		return fsm.UserInfo{}, false, nil
	case err != nil:
		return fsm.UserInfo{}, false, err
	case u.Disabled:
		return fsm.UserInfo{}, false, nil
	}
	return u, true, nil
}

// principal names the sender of an authenticated request; the user's record is kept for its
// policies.
func (h *handler) principal(rq *request) error {
	switch ak := rq.auth.AccessKey; {
	case ak == "":
		rq.who = iam.Principal{Kind: iam.Anonymous}
	case h.creds.root[ak] != "":
		rq.who = iam.Principal{Kind: iam.Root}
	default:
		u, ok, err := h.creds.user(ak)
		if err != nil {
			return err
		}
		if !ok { // deleted or disabled since the signature was checked
			return sigv4.ErrInvalidAccessKeyID
		}
		rq.who = iam.Principal{Kind: iam.User, User: u.Name}
		rq.user = &u
	}
	return nil
}

// authenticate checks the request's signature (or makes it anonymous) under the source
// address's failure limit.
func (h *handler) authenticate(rq *request, vo sigv4.VerifyOptions) error {
	addr := authlimit.Addr(rq.r)
	if ok, wait := h.limit.Allow(addr); !ok {
		return h.throttled(rq, wait)
	}
	auth, err := h.v.VerifyWith(rq.r, vo)
	if errors.Is(err, sigv4.ErrMissingAuth) {
		auth, err = h.v.Anonymous(rq.r, vo)
	}
	if err != nil {
		h.authFailed(rq, err)
		return err
	}
	rq.auth = auth
	if err := h.principal(rq); err != nil {
		h.authFailed(rq, err)
		return err
	}
	return nil
}

// authFailed counts a failure that guesses credentials against the source address.
func (h *handler) authFailed(rq *request, err error) {
	if errors.Is(err, sigv4.ErrSignatureDoesNotMatch) || errors.Is(err, sigv4.ErrInvalidAccessKeyID) {
		h.limit.Fail(authlimit.Addr(rq.r))
		h.m.Counter(MetricAuthFailures, 1)
	}
}

// throttled answers a request from an address that failed to authenticate too often.
func (h *handler) throttled(rq *request, wait time.Duration) error {
	h.m.Counter(MetricAuthThrottled, 1)
	rq.w.Header().Set("Retry-After", fmt.Sprint(int((wait+time.Second-1)/time.Second)))
	return ErrSlowDown.with("too many failed authentications from %s: retry in %s", authlimit.Addr(rq.r), wait.Round(time.Second))
}

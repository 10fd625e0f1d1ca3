package node

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nebulaio/nebulaio/config"
	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/httpapi"
	s3api "github.com/nebulaio/nebulaio/httpapi/s3"
	"github.com/nebulaio/nebulaio/iam"
	"github.com/nebulaio/nebulaio/internal/authlimit"
)

// Identities and access on a node: the keyring sealing users' secrets (from iam.master_key,
// stored or generated like the other secrets), the S3 handler's and the admin API's limits
// on failed authentications, and the admin API's identity store, which proposes through the
// same backend as S3 requests once it runs.

// newKeyring builds the keyring from the node's master key.
func newKeyring(c Credentials) (*iam.Keyring, error) {
	key, err := iam.ParseMasterKey(c.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("iam.master_key: %w", err)
	}
	return iam.NewKeyring(key)
}

// authLimit is the per-address bucket of failed authentications (iam.auth_failure_burst,
// iam.auth_failures_per_minute).
func authLimit(cfg config.Config) authlimit.Config {
	return authlimit.Config{Burst: cfg.IAM.AuthFailureBurst, Rate: float64(cfg.IAM.AuthFailuresPerMinute) / 60}
}

// identityStore is the admin API's httpapi.IdentityStore: the S3 backend's proposals and read
// barrier, the FSM's reads. Until the S3 listener runs it answers 503.
type identityStore struct{ n *Node }

var _ httpapi.IdentityStore = identityStore{}

func (s identityStore) parts() (s3api.Backend, *fsm.FSM, error) {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if s.n.backend == nil {
		return nil, nil, &httpapi.APIError{Status: http.StatusServiceUnavailable, Code: "starting", Message: "the node is still starting (waiting for cluster.expect_nodes?)"}
	}
	return s.n.backend, s.n.fsm, nil
}

func (s identityStore) Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error) {
	b, _, err := s.parts()
	if err != nil {
		return nil, err
	}
	res, err := b.Propose(ctx, ev)
	return res, apiError(err)
}

func (s identityStore) Sync(ctx context.Context) error {
	b, _, err := s.parts()
	if err != nil {
		return err
	}
	return apiError(b.Sync(ctx))
}

func (s identityStore) Users() ([]fsm.UserInfo, error) {
	_, f, err := s.parts()
	if err != nil {
		return nil, err
	}
	return f.Users()
}

func (s identityStore) User(name string) (fsm.UserInfo, error) {
	_, f, err := s.parts()
	if err != nil {
		return fsm.UserInfo{}, err
	}
	return f.User(name)
}

func (s identityStore) IAMPolicies() ([]fsm.PolicyInfo, error) {
	_, f, err := s.parts()
	if err != nil {
		return nil, err
	}
	return f.IAMPolicies()
}

func (s identityStore) IAMPolicy(name string) (fsm.PolicyInfo, error) {
	_, f, err := s.parts()
	if err != nil {
		return fsm.PolicyInfo{}, err
	}
	return f.IAMPolicy(name)
}

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
// or derived from the cluster secret), the S3 handler's and the admin API's limits
// on failed authentications, and the admin API's identity store, which proposes through the
// same backend as S3 requests once it runs.

// openKeyring builds the keyring that seals users' secret keys: from iam.master_key when it
// is configured (or stored by an earlier start), else derived from the cluster secret, which
// every member holds (HKDF with its own label: iam.DeriveMasterKey), so that a user created
// through one node authenticates on all of them with no setting. It runs after openTrust.
func (n *Node) openKeyring() error {
	var key []byte
	if n.creds.MasterKey != "" {
		k, err := iam.ParseMasterKey(n.creds.MasterKey)
		if err != nil {
			return fmt.Errorf("iam.master_key: %w", err)
		}
		key = k
	} else {
		secret := n.trust.id.Secret
		key = iam.DeriveMasterKey(secret[:])
		n.origins.MasterKey = OriginDerived
	}
	keys, err := iam.NewKeyring(key)
	if err != nil {
		return fmt.Errorf("iam.master_key: %w", err)
	}
	n.keys = keys
	n.log.Info().Str("key_id", keys.KeyID()).Str("from", string(n.origins.MasterKey)).Msg("iam master key ready")
	return nil
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

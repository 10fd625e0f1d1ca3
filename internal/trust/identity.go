package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

// IdentityFile is the name of the file in data_dir that holds the node's cluster identity.
const IdentityFile = "cluster.json"

// Sources of a secret, as recorded in the identity file and shown in the banner.
const (
	SourceGenerated = "generated"
	SourceSecret    = "cluster.secret"
	SourceToken     = "cluster.join_token"
)

// Errors of Establish.
var (
	// ErrNoToken is returned when a node without a cluster identity is to join a cluster and
	// has no join token: it cannot know which cluster to join, nor prove that it may.
	ErrNoToken = errors.New("trust: a join token is required to join a cluster")
	// ErrWrongCluster is returned when the join token names another cluster than the one this
	// node's data directory belongs to.
	ErrWrongCluster = errors.New("trust: the join token is for another cluster")
	// ErrSecretMismatch is returned when a configured secret (or a token's) differs from the
	// one the node's cluster uses, or cluster.secret and cluster.join_token disagree.
	ErrSecretMismatch = errors.New("trust: cluster secret mismatch")
	// ErrIdentityFile is returned when the identity file cannot be read or parsed.
	ErrIdentityFile = errors.New("trust: bad identity file")
)

// Identity is the cluster a node belongs to and the secret that proves it.
type Identity struct {
	ClusterID string
	Secret    Secret
	// Created is when this node first took the identity (bootstrap or join); Source is where
	// the secret came from then (SourceGenerated, SourceSecret or SourceToken).
	Created time.Time
	Source  string
}

// Token returns the join token of the identity's cluster.
func (id Identity) Token() Token { return Token{ClusterID: id.ClusterID, Secret: id.Secret} }

// identityFile is the JSON layout of data_dir/cluster.json (mode 0600).
type identityFile struct {
	Version   int       `json:"version"` // 1
	ClusterID string    `json:"cluster_id"`
	Secret    string    `json:"secret"` // base64url, unpadded
	Created   time.Time `json:"created"`
	Source    string    `json:"source"`
}

// Inputs is what the configuration says about the node's cluster.
type Inputs struct {
	// Secret is the text of cluster.secret (NEBULAIO_CLUSTER_SECRET); empty when not set.
	Secret string
	// Token is the text of cluster.join_token (NEBULAIO_JOIN_TOKEN); empty when not set.
	Token string
	// MayCreate says that this node, having no identity yet, starts a new cluster (it
	// bootstraps); otherwise it joins one and needs a token.
	MayCreate bool
}

// Establish returns the node's cluster identity, reading it from dir/cluster.json or, on the
// node's first start, taking it from the token, the configured secret or fresh random values,
// and storing it there (atomically, mode 0600) before it returns. created reports a first
// start. The rules (doc.go, "Identity"):
//
//   - A stored identity wins; a token or secret given as well must agree with it (same
//     cluster ID: else ErrWrongCluster; same secret: else ErrSecretMismatch). Nothing about an
//     existing identity is ever changed here.
//   - Without one: a token gives the cluster ID and the secret (cluster.secret, if also set,
//     must be the same secret); a node that may create a cluster takes the configured secret
//     or generates one, and a random cluster ID; any other node fails with ErrNoToken.
func Establish(fsys vfs.FS, dir string, in Inputs, now time.Time) (id Identity, created bool, err error) {
	var tok *Token
	if in.Token != "" {
		t, err := ParseToken(in.Token)
		if err != nil {
			return id, false, fmt.Errorf("cluster.join_token: %w", err)
		}
		tok = &t
	}
	var sec *Secret
	if in.Secret != "" {
		s, err := ParseSecret(in.Secret)
		if err != nil {
			return id, false, fmt.Errorf("cluster.secret: %w", err)
		}
		sec = &s
	}
	if tok != nil && sec != nil && !tok.Secret.Equal(*sec) {
		return id, false, fmt.Errorf("%w: cluster.secret and cluster.join_token carry different secrets; set only one", ErrSecretMismatch)
	}

	path := filepath.Join(dir, IdentityFile)
	stored, ok, err := LoadIdentity(fsys, dir)
	if err != nil {
		return id, false, err
	}
	if ok {
		if tok != nil && tok.ClusterID != stored.ClusterID {
			return id, false, fmt.Errorf("%w: cluster.join_token names cluster %s, but this node's data directory (%s) belongs to cluster %s; "+
				"use a token of cluster %s, or an empty data directory to join cluster %s",
				ErrWrongCluster, tok.ClusterID, path, stored.ClusterID, stored.ClusterID, tok.ClusterID)
		}
		if tok != nil && !tok.Secret.Equal(stored.Secret) {
			return id, false, fmt.Errorf("%w: cluster.join_token carries another secret than cluster %s uses (stored in %s); secrets cannot be rotated",
				ErrSecretMismatch, stored.ClusterID, path)
		}
		if sec != nil && !sec.Equal(stored.Secret) {
			return id, false, fmt.Errorf("%w: cluster.secret differs from the secret cluster %s uses (stored in %s); secrets cannot be rotated",
				ErrSecretMismatch, stored.ClusterID, path)
		}
		return stored, false, nil
	}

	id = Identity{Created: now.UTC().Truncate(time.Second)}
	switch {
	case tok != nil:
		id.ClusterID, id.Secret, id.Source = tok.ClusterID, tok.Secret, SourceToken
	case !in.MayCreate:
		return id, false, fmt.Errorf("%w: this node joins a cluster (it has join addresses and no state) but cluster.join_token "+
			"(or NEBULAIO_JOIN_TOKEN) is not set; print the token with `nebulaio cluster token` on a member", ErrNoToken)
	default:
		if id.ClusterID, err = NewClusterID(); err != nil {
			return id, false, err
		}
		if sec != nil {
			id.Secret, id.Source = *sec, SourceSecret
		} else {
			if id.Secret, err = NewSecret(); err != nil {
				return id, false, err
			}
			id.Source = SourceGenerated
		}
	}
	if err := SaveIdentity(fsys, dir, id); err != nil {
		return Identity{}, false, err
	}
	return id, true, nil
}

// LoadIdentity reads dir/cluster.json; ok is false when it does not exist.
func LoadIdentity(fsys vfs.FS, dir string) (id Identity, ok bool, err error) {
	if fsys == nil {
		fsys = vfs.OS
	}
	path := filepath.Join(dir, IdentityFile)
	data, err := vfs.ReadFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, fmt.Errorf("%w: %w", ErrIdentityFile, err)
	}
	var f identityFile
	if err := json.Unmarshal(data, &f); err != nil {
		return id, false, fmt.Errorf("%w: %s: %v", ErrIdentityFile, path, err)
	}
	if f.Version != 1 {
		return id, false, fmt.Errorf("%w: %s: unknown version %d", ErrIdentityFile, path, f.Version)
	}
	if err := CheckClusterID(f.ClusterID); err != nil {
		return id, false, fmt.Errorf("%w: %s: %w", ErrIdentityFile, path, err)
	}
	s, err := ParseSecret(f.Secret)
	if err != nil {
		return id, false, fmt.Errorf("%w: %s: %w", ErrIdentityFile, path, err)
	}
	return Identity{ClusterID: f.ClusterID, Secret: s, Created: f.Created, Source: f.Source}, true, nil
}

// SaveIdentity writes dir/cluster.json atomically and durably with mode 0600.
func SaveIdentity(fsys vfs.FS, dir string, id Identity) error {
	if fsys == nil {
		fsys = vfs.OS
	}
	data, err := json.MarshalIndent(identityFile{Version: 1, ClusterID: id.ClusterID, Secret: id.Secret.Text(),
		Created: id.Created, Source: id.Source}, "", "  ")
	if err != nil {
		return err
	}
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	if err := vfs.WriteFile(fsys, filepath.Join(dir, IdentityFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("trust: store identity: %w", err)
	}
	return nil
}

package trust

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nebulaio/nebulaio/internal/vfs"
)

var t0 = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

// TestEstablish walks the decision table of doc.go ("Identity").
func TestEstablish(t *testing.T) {
	secret := mustSecret(t)
	other := mustSecret(t)
	tok := Token{ClusterID: mustID(t), Secret: secret}
	foreignTok := Token{ClusterID: mustID(t), Secret: other}

	type step struct {
		in      Inputs
		wantErr error
		check   func(t *testing.T, id Identity, created bool)
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"bootstrap generates, restart keeps", []step{
			{in: Inputs{MayCreate: true}, check: func(t *testing.T, id Identity, created bool) {
				if !created || id.Source != SourceGenerated || CheckClusterID(id.ClusterID) != nil || id.Secret.IsZero() {
					t.Fatalf("first start: %+v created=%v", id, created)
				}
			}},
			{in: Inputs{MayCreate: true}, check: func(t *testing.T, id Identity, created bool) {
				if created || id.Source != SourceGenerated {
					t.Fatalf("restart: %+v created=%v", id, created)
				}
			}},
		}},
		{"bootstrap with a configured secret", []step{
			{in: Inputs{MayCreate: true, Secret: secret.Text()}, check: func(t *testing.T, id Identity, created bool) {
				if !created || !id.Secret.Equal(secret) || id.Source != SourceSecret {
					t.Fatalf("%+v", id)
				}
			}},
			{in: Inputs{MayCreate: true, Secret: secret.Text()}},
			{in: Inputs{MayCreate: true, Secret: other.Text()}, wantErr: ErrSecretMismatch},
		}},
		{"join with a token adopts its cluster", []step{
			{in: Inputs{Token: tok.Text()}, check: func(t *testing.T, id Identity, created bool) {
				if !created || id.ClusterID != tok.ClusterID || !id.Secret.Equal(secret) || id.Source != SourceToken {
					t.Fatalf("%+v", id)
				}
			}},
			{in: Inputs{}}, // a restart needs the token no more
			{in: Inputs{Token: tok.Text()}},
			{in: Inputs{Token: foreignTok.Text()}, wantErr: ErrWrongCluster},
			{in: Inputs{Token: Token{ClusterID: tok.ClusterID, Secret: other}.Text()}, wantErr: ErrSecretMismatch},
		}},
		{"bootstrap with a token (every node given the same token up front)", []step{
			{in: Inputs{MayCreate: true, Token: tok.Text()}, check: func(t *testing.T, id Identity, created bool) {
				if id.ClusterID != tok.ClusterID {
					t.Fatalf("%+v", id)
				}
			}},
		}},
		{"join without a token", []step{
			{in: Inputs{}, wantErr: ErrNoToken},
			{in: Inputs{Secret: secret.Text()}, wantErr: ErrNoToken}, // a secret alone does not say which cluster
		}},
		{"a state of another cluster is never moved", []step{
			{in: Inputs{MayCreate: true}},
			{in: Inputs{Token: tok.Text()}, wantErr: ErrWrongCluster},
		}},
		{"secret and token disagree", []step{
			{in: Inputs{Token: tok.Text(), Secret: other.Text()}, wantErr: ErrSecretMismatch},
		}},
		{"malformed inputs name their key", []step{
			{in: Inputs{Token: "nbio1.zz"}, wantErr: ErrToken},
			{in: Inputs{MayCreate: true, Secret: "short"}, wantErr: ErrSecret},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			var first Identity
			for i, s := range c.steps {
				id, created, err := Establish(fsys, "/data", s.in, t0)
				if s.wantErr != nil {
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if i == 0 {
					first = id
				} else if id.ClusterID != first.ClusterID || !id.Secret.Equal(first.Secret) {
					t.Fatalf("step %d: identity changed from %s to %s", i, first.ClusterID, id.ClusterID)
				}
				if s.check != nil {
					s.check(t, id, created)
				}
			}
		})
	}
}

// TestEstablishErrorsAreClear: the refusals name the keys and the cluster IDs involved.
func TestEstablishErrorsAreClear(t *testing.T) {
	fsys := vfs.NewMem()
	mine, _, err := Establish(fsys, "/data", Inputs{MayCreate: true}, t0)
	if err != nil {
		t.Fatal(err)
	}
	tok := Token{ClusterID: mustID(t), Secret: mustSecret(t)}
	_, _, err = Establish(fsys, "/data", Inputs{Token: tok.Text()}, t0)
	for _, want := range []string{"cluster.join_token", tok.ClusterID, mine.ClusterID} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	_, _, err = Establish(vfs.NewMem(), "/data", Inputs{}, t0)
	if err == nil || !strings.Contains(err.Error(), "cluster.join_token") || !strings.Contains(err.Error(), "nebulaio cluster token") {
		t.Errorf("join without a token: %v", err)
	}
}

// TestIdentityFile: mode 0600 on a real disk, durable before Establish returns (a power cut
// right after keeps it), and a damaged file is an error, never a new identity.
func TestIdentityFile(t *testing.T) {
	dir := t.TempDir()
	id, _, err := Establish(vfs.OS, dir, Inputs{MayCreate: true}, t0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, IdentityFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v, %v; want 0600", st.Mode(), err)
	}

	mem := vfs.NewMem()
	id, _, err = Establish(mem, "/data", Inputs{MayCreate: true}, t0)
	if err != nil {
		t.Fatal(err)
	}
	after := mem.Crash()
	got, ok, err := LoadIdentity(after, "/data")
	if err != nil || !ok || got.ClusterID != id.ClusterID || !got.Secret.Equal(id.Secret) || !got.Created.Equal(t0) {
		t.Fatalf("after a power cut: %+v ok=%v err=%v; want %s", got, ok, err, id.ClusterID)
	}

	for _, damage := range []string{"{", `{"version":2}`, `{"version":1,"cluster_id":"x","secret":""}`} {
		if err := vfs.WriteFile(vfs.OS, filepath.Join(dir, IdentityFile), []byte(damage), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Establish(vfs.OS, dir, Inputs{MayCreate: true}, t0); !errors.Is(err, ErrIdentityFile) {
			t.Fatalf("damaged file %q: err = %v, want ErrIdentityFile", damage, err)
		}
	}
}

// TestEstablishWriteFails: a failed write of the identity file fails the start and leaves
// no identity behind.
func TestEstablishWriteFails(t *testing.T) {
	mem := vfs.NewMem()
	faulty := vfs.NewFaulty(mem)
	faulty.Inject(vfs.Fault{Ops: vfs.OpSync, Err: vfs.ErrNoSpace})
	if _, _, err := Establish(faulty, "/data", Inputs{MayCreate: true}, t0); !errors.Is(err, vfs.ErrNoSpace) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if _, ok, err := LoadIdentity(mem, "/data"); ok || err != nil {
		t.Fatalf("an identity was left behind: ok=%v err=%v", ok, err)
	}
}

package s3

import (
	"context"
	"testing"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/iam"
)

// laggingMeta is a follower's metadata that has not applied a user's creation yet: the user
// appears only once a read barrier (sync) has been waited for.
type laggingMeta struct {
	Metadata
	user   fsm.UserInfo
	synced bool
	syncs  int
}

func (m *laggingMeta) UserByAccessKey(accessKey string) (fsm.UserInfo, error) {
	if !m.synced || accessKey != m.user.AccessKey {
		return fsm.UserInfo{}, &fsm.Error{Code: fsm.CodeNoSuchUser}
	}
	return m.user, nil
}

func (m *laggingMeta) sync(context.Context) error {
	m.syncs++
	m.synced = true
	return nil
}

// A key created a moment ago through another node works on a follower that has not applied
// the creation yet: the unknown key waits for one read barrier before it is refused (the
// node test TestUsersAcrossTheCluster failed on this under load).
func TestUnknownKeyWaitsForReadBarrier(t *testing.T) {
	ak, sk := iam.NewAccessKey(), iam.NewSecretKey()
	m := &laggingMeta{user: fsm.UserInfo{Name: "app", AccessKey: ak, SealedSecret: testKeys.Seal("app", ak, sk)}}
	s := &credentialStore{root: map[string]string{"ROOT": "root-secret"}, meta: m, keys: testKeys, sync: m.sync}
	got, ok, err := s.LookupErr(ak)
	if err != nil || !ok || got != sk {
		t.Fatalf("lookup of a key the follower has not applied yet: %q %v %v, want its secret", got, ok, err)
	}
	if m.syncs != 1 {
		t.Fatalf("%d read barriers, want 1", m.syncs)
	}
	// The root key and a known key never wait.
	if _, ok, _ := s.LookupErr("ROOT"); !ok {
		t.Fatal("root key not found")
	}
	if _, ok, _ := s.LookupErr(ak); !ok || m.syncs != 1 {
		t.Fatalf("known key: found %v after %d barriers, want found after 1", ok, m.syncs)
	}
	// A key nobody holds is still unknown after its barrier.
	if _, ok, err := s.LookupErr("NOBODY"); ok || err != nil {
		t.Fatalf("unknown key: found %v, err %v", ok, err)
	}
	if m.syncs != 2 {
		t.Fatalf("%d read barriers after an unknown key, want 2", m.syncs)
	}
}

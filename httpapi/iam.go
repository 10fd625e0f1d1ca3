package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/nebulaio/nebulaio/fsm"
	"github.com/nebulaio/nebulaio/iam"
)

// Identities and policies (the admin API's /api/v1/admin/users, /keys and /policies). Users
// are S3 identities with one access key each; a user's secret key is generated (or given) at
// creation or rotation, returned in that one answer, and kept only sealed (iam.Keyring) in the
// replicated metadata: no later call shows it. Policies are named identity policies (package
// iam's subset of the IAM policy language), attached to users by name.

// IdentityStore is what the identities API needs of the node: proposals and linearizable
// reads of the metadata. *fsm.FSM's read methods and the S3 backend's Propose and Sync
// satisfy it; errors other than *fsm.Error (rejections) and *APIError are mapped by the
// implementation (503 without a quorum).
type IdentityStore interface {
	Propose(ctx context.Context, ev fsm.Event) (*fsm.Result, error)
	Sync(ctx context.Context) error
	Users() ([]fsm.UserInfo, error)
	User(name string) (fsm.UserInfo, error)
	IAMPolicies() ([]fsm.PolicyInfo, error)
	IAMPolicy(name string) (fsm.PolicyInfo, error)
}

// UserView is a user as the admin API shows it (never its secret).
type UserView struct {
	Name      string   `json:"name"`
	AccessKey string   `json:"access_key"`
	Status    string   `json:"status"` // active or disabled
	Policies  []string `json:"policies"`
	Created   string   `json:"created"` // RFC 3339
	Rotated   string   `json:"secret_set"`
	// KeyID is the master key the secret is sealed under (iam.Keyring.KeyID).
	KeyID string `json:"sealed_with,omitempty"`
}

// NewUserRequest is the body of POST /api/v1/admin/users; empty keys are generated.
type NewUserRequest struct {
	Name      string   `json:"name"`
	Policies  []string `json:"policies,omitempty"`
	AccessKey string   `json:"access_key,omitempty"`
	SecretKey string   `json:"secret_key,omitempty"`
}

// KeyAnswer is the answer of a creation or rotation: the only time the secret key is shown.
type KeyAnswer struct {
	User      UserView `json:"user"`
	AccessKey string   `json:"access_key"`
	SecretKey string   `json:"secret_key"`
}

// PolicyView is a named identity policy.
type PolicyView struct {
	Name     string          `json:"name"`
	Document json.RawMessage `json:"document"`
	Updated  string          `json:"updated"`
}

// IdentityRoutes lists the identities API's routes (all need the bearer token).
var IdentityRoutes = []string{
	"GET /api/v1/admin/users",
	"POST /api/v1/admin/users",
	"GET /api/v1/admin/users/{name}",
	"DELETE /api/v1/admin/users/{name}",
	"POST /api/v1/admin/users/{name}/disable",
	"POST /api/v1/admin/users/{name}/enable",
	"POST /api/v1/admin/users/{name}/rotate",
	"PUT /api/v1/admin/users/{name}/policies/{policy}",
	"DELETE /api/v1/admin/users/{name}/policies/{policy}",
	"GET /api/v1/admin/keys",
	"GET /api/v1/admin/policies",
	"GET /api/v1/admin/policies/{name}",
	"PUT /api/v1/admin/policies/{name}",
	"DELETE /api/v1/admin/policies/{name}",
}

// maxAdminBody bounds a request body of the identities API (a policy document is at most
// iam.MaxDocumentSize).
const maxAdminBody = iam.MaxDocumentSize + 1024

func registerIdentityAPI(mux *http.ServeMux, token string, st IdentityStore, keys *iam.Keyring, now func() time.Time) {
	a := identityAPI{st: st, keys: keys, now: now}
	handle := func(pattern string, status int, f func(ctx context.Context, r *http.Request) (any, error)) {
		mux.Handle(pattern, requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), adminCallTimeout)
			defer cancel()
			r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
			v, err := f(ctx, r)
			if err != nil {
				writeError(w, identityError(err))
				return
			}
			w.Header().Set("Cache-Control", "no-store") // answers may carry a secret key
			writeJSON(w, status, v)
		})))
	}
	name := func(r *http.Request) string { return r.PathValue("name") }
	handle(IdentityRoutes[0], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		us, err := a.users(ctx)
		return map[string]any{"users": us}, err
	})
	handle(IdentityRoutes[1], http.StatusCreated, func(ctx context.Context, r *http.Request) (any, error) {
		var req NewUserRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return a.createUser(ctx, req)
	})
	handle(IdentityRoutes[2], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		return a.user(ctx, name(r))
	})
	handle(IdentityRoutes[3], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		return map[string]string{"name": name(r), "result": "deleted"}, a.propose(ctx, &fsm.DeleteUser{Name: name(r)})
	})
	for i, disabled := range []bool{true, false} {
		handle(IdentityRoutes[4+i], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
			if err := a.propose(ctx, &fsm.SetUserStatus{Name: name(r), Disabled: disabled}); err != nil {
				return nil, err
			}
			return a.user(ctx, name(r))
		})
	}
	handle(IdentityRoutes[6], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			SecretKey string `json:"secret_key,omitempty"`
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return a.rotate(ctx, name(r), req.SecretKey)
	})
	handle(IdentityRoutes[7], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		if err := a.propose(ctx, &fsm.AttachUserPolicy{User: name(r), Policy: r.PathValue("policy")}); err != nil {
			return nil, err
		}
		return a.user(ctx, name(r))
	})
	handle(IdentityRoutes[8], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		if err := a.propose(ctx, &fsm.DetachUserPolicy{User: name(r), Policy: r.PathValue("policy")}); err != nil {
			return nil, err
		}
		return a.user(ctx, name(r))
	})
	handle(IdentityRoutes[9], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		us, err := a.users(ctx)
		keys := make([]map[string]string, 0, len(us))
		for _, u := range us {
			keys = append(keys, map[string]string{"access_key": u.AccessKey, "user": u.Name, "status": u.Status, "secret_set": u.Rotated})
		}
		return map[string]any{"keys": keys}, err
	})
	handle(IdentityRoutes[10], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		if err := st.Sync(ctx); err != nil {
			return nil, err
		}
		ps, err := st.IAMPolicies()
		out := make([]PolicyView, 0, len(ps))
		for _, p := range ps {
			out = append(out, policyView(p))
		}
		return map[string]any{"policies": out}, err
	})
	handle(IdentityRoutes[11], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		if err := st.Sync(ctx); err != nil {
			return nil, err
		}
		p, err := st.IAMPolicy(name(r))
		return policyView(p), err
	})
	handle(IdentityRoutes[12], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		doc, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, badRequest("reading the policy document: %v", err)
		}
		if err := iam.CheckPolicyName(name(r)); err != nil {
			return nil, badRequest("%v", err)
		}
		if _, err := iam.ParseIdentityPolicy(doc); err != nil {
			return nil, &APIError{Status: http.StatusBadRequest, Code: "malformed_policy", Message: err.Error()}
		}
		ev := &fsm.PutPolicy{Name: name(r), Document: string(doc), Updated: a.now().UnixNano()}
		if err := a.propose(ctx, ev); err != nil {
			return nil, err
		}
		return policyView(fsm.PolicyInfo{Name: ev.Name, Document: ev.Document, Updated: ev.Updated}), nil
	})
	handle(IdentityRoutes[13], http.StatusOK, func(ctx context.Context, r *http.Request) (any, error) {
		return map[string]string{"name": name(r), "result": "deleted"}, a.propose(ctx, &fsm.DeletePolicy{Name: name(r)})
	})
}

type identityAPI struct {
	st   IdentityStore
	keys *iam.Keyring
	now  func() time.Time
}

func badRequest(format string, args ...any) error {
	return &APIError{Status: http.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

// decodeBody reads a JSON body into v, refusing unknown fields; an empty body leaves v as is.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return badRequest("reading the body: %v", err)
	}
	if len(b) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badRequest("body: %v", err)
	}
	return nil
}

func (a identityAPI) propose(ctx context.Context, ev fsm.Event) error {
	res, err := a.st.Propose(ctx, ev)
	if err != nil {
		return err
	}
	if res != nil && res.Err != nil {
		return res.Err
	}
	return nil
}

func (a identityAPI) view(u fsm.UserInfo) UserView {
	v := UserView{Name: u.Name, AccessKey: u.AccessKey, Status: "active", Policies: u.Policies,
		Created: time.Unix(0, u.Created).UTC().Format(time.RFC3339), Rotated: time.Unix(0, u.Updated).UTC().Format(time.RFC3339),
		KeyID: iam.SealedKeyID(u.SealedSecret)}
	if u.Disabled {
		v.Status = "disabled"
	}
	if v.Policies == nil {
		v.Policies = []string{}
	}
	return v
}

func (a identityAPI) users(ctx context.Context) ([]UserView, error) {
	if err := a.st.Sync(ctx); err != nil {
		return nil, err
	}
	us, err := a.st.Users()
	out := make([]UserView, 0, len(us))
	for _, u := range us {
		out = append(out, a.view(u))
	}
	return out, err
}

func (a identityAPI) user(ctx context.Context, name string) (UserView, error) {
	if err := a.st.Sync(ctx); err != nil {
		return UserView{}, err
	}
	u, err := a.st.User(name)
	if err != nil {
		return UserView{}, err
	}
	return a.view(u), nil
}

func (a identityAPI) createUser(ctx context.Context, req NewUserRequest) (KeyAnswer, error) {
	if err := iam.CheckUserName(req.Name); err != nil {
		return KeyAnswer{}, badRequest("%v", err)
	}
	if req.AccessKey == "" {
		req.AccessKey = iam.NewAccessKey()
	} else if err := iam.CheckAccessKey(req.AccessKey); err != nil {
		return KeyAnswer{}, badRequest("%v", err)
	}
	if req.SecretKey == "" {
		req.SecretKey = iam.NewSecretKey()
	} else if err := iam.CheckSecretKey(req.SecretKey); err != nil {
		return KeyAnswer{}, badRequest("%v", err)
	}
	pols := slices.Clone(req.Policies)
	slices.Sort(pols)
	pols = slices.Compact(pols)
	created := a.now().UnixNano()
	ev := &fsm.CreateUser{Name: req.Name, AccessKey: req.AccessKey, SealedSecret: a.keys.Seal(req.Name, req.AccessKey, req.SecretKey),
		Created: created, Policies: pols}
	if err := a.propose(ctx, ev); err != nil {
		return KeyAnswer{}, err
	}
	u := fsm.UserInfo{Name: ev.Name, AccessKey: ev.AccessKey, SealedSecret: ev.SealedSecret, Created: created, Updated: created, Policies: pols}
	return KeyAnswer{User: a.view(u), AccessKey: req.AccessKey, SecretKey: req.SecretKey}, nil
}

// rotate replaces a user's secret key (generated unless given); the access key stays and the
// old secret stops working at once.
func (a identityAPI) rotate(ctx context.Context, name, secret string) (KeyAnswer, error) {
	if secret == "" {
		secret = iam.NewSecretKey()
	} else if err := iam.CheckSecretKey(secret); err != nil {
		return KeyAnswer{}, badRequest("%v", err)
	}
	if err := a.st.Sync(ctx); err != nil {
		return KeyAnswer{}, err
	}
	u, err := a.st.User(name)
	if err != nil {
		return KeyAnswer{}, err
	}
	ev := &fsm.SetUserSecret{Name: name, SealedSecret: a.keys.Seal(name, u.AccessKey, secret), Updated: a.now().UnixNano()}
	if err := a.propose(ctx, ev); err != nil {
		return KeyAnswer{}, err
	}
	u.SealedSecret, u.Updated = ev.SealedSecret, ev.Updated
	return KeyAnswer{User: a.view(u), AccessKey: u.AccessKey, SecretKey: secret}, nil
}

func policyView(p fsm.PolicyInfo) PolicyView {
	doc := json.RawMessage(p.Document)
	if !json.Valid(doc) {
		doc, _ = json.Marshal(p.Document)
	}
	return PolicyView{Name: p.Name, Document: doc, Updated: time.Unix(0, p.Updated).UTC().Format(time.RFC3339)}
}

// identityStatus maps the FSM's rejections of identities and access to HTTP.
var identityStatus = map[string]int{
	fsm.CodeNoSuchUser:        http.StatusNotFound,
	fsm.CodeNoSuchPolicy:      http.StatusNotFound,
	fsm.CodeUserAlreadyExists: http.StatusConflict,
	fsm.CodeAccessKeyInUse:    http.StatusConflict,
	fsm.CodePolicyInUse:       http.StatusConflict,
	fsm.CodeLimitExceeded:     http.StatusConflict,
	fsm.CodeInvalidArgument:   http.StatusBadRequest,
}

func identityError(err error) error {
	var fe *fsm.Error
	if errors.As(err, &fe) {
		st, ok := identityStatus[fe.Code]
		if !ok {
			st = http.StatusBadRequest
		}
		return &APIError{Status: st, Code: fe.Code, Message: fe.Message}
	}
	return err
}

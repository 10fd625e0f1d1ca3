package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nebulaio/nebulaio/dataplane"
)

// NodeView is one node as the admin API shows it: its raft membership and state, its gossip
// state and its addresses. Fields unknown to the answering node are empty.
type NodeView struct {
	ID            string `json:"id"`
	Role          string `json:"role,omitempty"`
	Voter         bool   `json:"voter"`       // a voter in the raft configuration
	WantsVoter    bool   `json:"wants_voter"` // its configuration asks to vote
	InRaft        bool   `json:"in_raft"`     // member of the raft configuration
	RaftState     string `json:"raft_state"`  // Leader, Follower, Candidate, Shutdown, or unknown
	RaftAddress   string `json:"raft_address,omitempty"`
	S3Address     string `json:"s3_address,omitempty"`
	AdminAddress  string `json:"admin_address,omitempty"`
	GossipAddress string `json:"gossip_address,omitempty"`
	GossipStatus  string `json:"gossip_status"` // alive, suspect, dead, left, or unknown
	LastContactMS int64  `json:"last_contact_ms"`
	AppliedIndex  uint64 `json:"applied_index"`
	CommitIndex   uint64 `json:"commit_index"` // the commit index the node knows
	Version       string `json:"version,omitempty"`
	// The operator's recorded decisions (replicated state): removed (and when), the voter
	// status decided by promote/demote ("voter", "nonvoter"; empty: its configuration
	// decides), the drain ("draining", "drained"; empty: none).
	Removed     bool       `json:"removed,omitempty"`
	RemovedAt   *time.Time `json:"removed_at,omitempty"`
	VoterIntent string     `json:"voter_intent,omitempty"`
	Drain       string     `json:"drain,omitempty"`
}

// HealthView summarises the cluster's ability to commit writes.
type HealthView struct {
	ClusterID        string `json:"cluster_id"`
	Healthy          bool   `json:"healthy"` // a leader is known and failure_tolerance >= 0
	LeaderID         string `json:"leader_id"`
	LeaderAddress    string `json:"leader_address"`
	Voters           int    `json:"voters"`
	QuorumSize       int    `json:"quorum_size"`
	HealthyVoters    int    `json:"healthy_voters"`
	FailureTolerance int    `json:"failure_tolerance"` // voters that may still fail without losing quorum
	Nonvoters        int    `json:"nonvoters"`
	// Repair is the data plane's repair progress as the node that drives it (the leader)
	// reports it; RepairError says why it could not be read.
	Repair      *dataplane.RepairStats `json:"repair,omitempty"`
	RepairError string                 `json:"repair_error,omitempty"`
	// Rebalance is the balancer's progress on the leader: blobs moved to their placement
	// after storage nodes joined, and every drain.
	Rebalance      *dataplane.BalanceStats `json:"rebalance,omitempty"`
	RebalanceError string                  `json:"rebalance_error,omitempty"`
	// Warnings are things an operator should act on that do not make the cluster unhealthy
	// (an even number of voters).
	Warnings []string `json:"warnings,omitempty"`
}

// DrainView is one node's drain: its recorded state ("none", "draining", "drained"), since
// when, and the progress the balancer on the leader reports (ProgressError says why it could
// not be read).
type DrainView struct {
	ID            string                   `json:"id"`
	State         string                   `json:"state"`
	Since         *time.Time               `json:"since,omitempty"`
	Progress      *dataplane.DrainProgress `json:"progress,omitempty"`
	ProgressError string                   `json:"progress_error,omitempty"`
}

// LeaderView is the answer to a leadership transfer.
type LeaderView struct {
	Previous      string `json:"previous_leader_id"`
	LeaderID      string `json:"leader_id"`
	LeaderAddress string `json:"leader_address"`
}

// Cluster is what the admin API needs of the node (engine plus gossip). Calls that need the
// leader are forwarded by the implementation; errors are mapped to HTTP by APIError.
type Cluster interface {
	Nodes(ctx context.Context) ([]NodeView, error)
	Health(ctx context.Context) (HealthView, error)
	// Promote and Demote record the operator's decision and change the suffrage.
	Promote(ctx context.Context, id string) error
	Demote(ctx context.Context, id string) error
	// Remove records the removal (the node stays out until re-admitted) and takes the node
	// out of raft; without force it refuses a node holding the only copy of any blob.
	Remove(ctx context.Context, id string, force bool) error
	Readmit(ctx context.Context, id string) error
	// JoinToken returns the cluster's ID and the token a new node joins it with (it carries
	// the cluster secret).
	JoinToken(ctx context.Context) (TokenView, error)
	Membership
}

// TokenView is the answer of GET /api/v1/admin/cluster/token.
type TokenView struct {
	ClusterID string `json:"cluster_id"`
	Token     string `json:"token"`
}

// Membership is the admin API's drain and leadership calls.
type Membership interface {
	// Drain starts moving a node's blobs to the other storage nodes; DrainStatus reports
	// it; CancelDrain stops it (the node may be chosen for new copies again).
	Drain(ctx context.Context, id string) (DrainView, error)
	DrainStatus(ctx context.Context, id string) (DrainView, error)
	CancelDrain(ctx context.Context, id string) (DrainView, error)
	// TransferLeader moves leadership to voter id ("" any other voter).
	TransferLeader(ctx context.Context, id string) (LeaderView, error)
}

// APIError is an error with the HTTP status and code the admin API answers with. A Cluster
// implementation returns one (or wraps one) to choose the answer; anything else is a 500.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// errorBody is the JSON of every admin API error.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = &APIError{Status: http.StatusInternalServerError, Code: "internal", Message: err.Error()}
	}
	if ae.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ae.Status, errorBody{Code: ae.Code, Message: ae.Message})
}

// requireToken wraps h with bearer-token authentication (constant-time comparison).
func requireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nebulaio-admin"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Code: "unauthorized", Message: "missing or wrong bearer token (admin.token, NEBULAIO_ADMIN_TOKEN)"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// AdminRoutes lists the authenticated admin API routes (method and pattern), for docs and tests.
var AdminRoutes = []string{
	"GET /api/v1/admin/cluster/nodes",
	"POST /api/v1/admin/cluster/nodes/{id}/promote",
	"POST /api/v1/admin/cluster/nodes/{id}/demote",
	"DELETE /api/v1/admin/cluster/nodes/{id}",
	"GET /api/v1/admin/cluster/health",
	"GET /api/v1/admin/cluster/token",
	"POST /api/v1/admin/cluster/nodes/{id}/readmit",
	"POST /api/v1/admin/cluster/nodes/{id}/drain",
	"GET /api/v1/admin/cluster/nodes/{id}/drain",
	"DELETE /api/v1/admin/cluster/nodes/{id}/drain",
	"POST /api/v1/admin/cluster/leader/transfer",
}

const adminCallTimeout = 15 * time.Second

func registerClusterAPI(mux *http.ServeMux, token string, c Cluster) {
	handle := func(pattern string, f func(ctx context.Context, r *http.Request) (any, error)) {
		mux.Handle(pattern, requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), adminCallTimeout)
			defer cancel()
			v, err := f(ctx, r)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})))
	}
	handle(AdminRoutes[0], func(ctx context.Context, r *http.Request) (any, error) {
		nodes, err := c.Nodes(ctx)
		return map[string]any{"nodes": nodes}, err
	})
	handle(AdminRoutes[1], func(ctx context.Context, r *http.Request) (any, error) {
		id := r.PathValue("id")
		return map[string]string{"id": id, "result": "promoted"}, c.Promote(ctx, id)
	})
	handle(AdminRoutes[2], func(ctx context.Context, r *http.Request) (any, error) {
		id := r.PathValue("id")
		return map[string]string{"id": id, "result": "demoted"}, c.Demote(ctx, id)
	})
	handle(AdminRoutes[3], func(ctx context.Context, r *http.Request) (any, error) {
		id := r.PathValue("id")
		force, err := boolParam(r, "force")
		if err != nil {
			return nil, err
		}
		return map[string]string{"id": id, "result": "removed"}, c.Remove(ctx, id, force)
	})
	handle(AdminRoutes[4], func(ctx context.Context, r *http.Request) (any, error) {
		return c.Health(ctx)
	})
	// The token is the cluster secret: no cache may keep the answer.
	mux.Handle(AdminRoutes[5], requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := c.JoinToken(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, v)
	})))
	handle(AdminRoutes[6], func(ctx context.Context, r *http.Request) (any, error) {
		id := r.PathValue("id")
		return map[string]string{"id": id, "result": "readmitted"}, c.Readmit(ctx, id)
	})
	handle(AdminRoutes[7], func(ctx context.Context, r *http.Request) (any, error) { return c.Drain(ctx, r.PathValue("id")) })
	handle(AdminRoutes[8], func(ctx context.Context, r *http.Request) (any, error) { return c.DrainStatus(ctx, r.PathValue("id")) })
	handle(AdminRoutes[9], func(ctx context.Context, r *http.Request) (any, error) { return c.CancelDrain(ctx, r.PathValue("id")) })
	handle(AdminRoutes[10], func(ctx context.Context, r *http.Request) (any, error) {
		var body struct {
			ID string `json:"id"`
		}
		if err := decodeOptionalJSON(r, &body); err != nil {
			return nil, err
		}
		return c.TransferLeader(ctx, body.ID)
	})
	// Unknown routes under the API answer JSON too (and still require the token).
	mux.Handle("/api/", requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &APIError{Status: http.StatusNotFound, Code: "not_found", Message: "no such admin route: " + r.Method + " " + r.URL.Path})
	})))
}

// boolParam reads an optional boolean query parameter ("true" or "false"); anything else is a
// 400 naming it.
func boolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, &APIError{Status: http.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf("%s=%q: want true or false", name, v)}
	}
}

// decodeOptionalJSON reads a small JSON body into v; an empty body leaves v as it is. Unknown
// fields are refused rather than ignored.
func decodeOptionalJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return &APIError{Status: http.StatusBadRequest, Code: "bad_request", Message: err.Error()}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &APIError{Status: http.StatusBadRequest, Code: "bad_request", Message: "request body: " + err.Error()}
	}
	return nil
}

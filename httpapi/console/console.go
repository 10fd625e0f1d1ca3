package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the console handler.
type Options struct {
	// NodeID is the node serving the console (shown in every page's header).
	NodeID string
	// Token is the admin token (admin.token) the login form asks for. Empty: nobody can log in.
	Token string
	// Source gives the pages their data; Actions carries out the operator's actions. Required.
	Source  Source
	Actions Actions
	// SessionIdle and SessionMax bound a session (defaults DefaultSessionIdle and
	// DefaultSessionMax).
	SessionIdle, SessionMax time.Duration
	// Now is the clock (nil: time.Now); tests move it to expire sessions.
	Now func() time.Time
	// ActionTimeout bounds one action (default 30 s: a leadership transfer or a membership
	// change may wait for an election).
	ActionTimeout time.Duration
}

// Routes of the console. Everything but PublicRoutes needs a session.
const (
	RouteUp      = "/up"
	RouteLogin   = "/login"
	RouteLogout  = "/logout"
	RouteCluster = "/cluster"
	RouteStorage = "/storage"
	RouteBuckets = "/buckets"
	RouteConfirm = "/confirm"
	RouteAction  = "/action"
	routeStatic  = "/static/"
)

// PublicRoutes answer without a session: the "is it up" page, the login form and the
// stylesheet and script.
var PublicRoutes = []string{RouteUp, RouteLogin, routeStatic}

// action is one operator action: its form name, what the confirmation page asks, and what
// the result says.
type action struct {
	Name     string // the form value
	Label    string // the button
	Question string // the confirmation, with %s for the node
	Done     string // the result, with %s for the node
	NeedNode bool
}

var actions = map[string]action{
	"promote":  {Name: "promote", Label: "Promote", Question: "Promote %s to a raft voter?", Done: "%s promoted to voter", NeedNode: true},
	"demote":   {Name: "demote", Label: "Demote", Question: "Demote %s to a non-voter? It keeps its data and replicates, but no longer votes.", Done: "%s demoted to non-voter", NeedNode: true},
	"drain":    {Name: "drain", Label: "Drain", Question: "Drain %s? Its object copies move to the other storage nodes and it receives no new ones.", Done: "drain of %s started", NeedNode: true},
	"remove":   {Name: "remove", Label: "Remove", Question: "Remove %s from the cluster? It leaves the raft configuration; copies it held are re-created elsewhere.", Done: "%s removed", NeedNode: true},
	"transfer": {Name: "transfer", Label: "Transfer leadership", Question: "Transfer leadership %s?", Done: "leadership transferred: %s"},
}

// Handler serves the console.
type Handler struct {
	opts     Options
	sessions *sessions
	pages    map[string]*page
	mux      *http.ServeMux
}

// New returns the console's handler.
func New(opts Options) (*Handler, error) {
	if opts.Source == nil || opts.Actions == nil {
		return nil, errors.New("console: Source and Actions are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = DefaultSessionIdle
	}
	if opts.SessionMax <= 0 {
		opts.SessionMax = DefaultSessionMax
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 30 * time.Second
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, sessions: newSessions(opts.SessionIdle, opts.SessionMax, opts.Now), pages: pages, mux: http.NewServeMux()}
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET "+routeStatic, http.StripPrefix(routeStatic, http.FileServerFS(static)))
	h.mux.HandleFunc("GET "+RouteUp, h.up)
	h.mux.HandleFunc("GET "+RouteLogin, h.loginForm)
	h.mux.HandleFunc("POST "+RouteLogin, h.login)
	h.mux.Handle("POST "+RouteLogout, h.authed(h.logout))
	h.mux.Handle("GET /{$}", h.authed(func(w http.ResponseWriter, r *http.Request, _ session) {
		http.Redirect(w, r, RouteCluster, http.StatusSeeOther)
	}))
	h.mux.Handle("GET "+RouteCluster, h.authed(h.cluster))
	h.mux.Handle("GET "+RouteStorage, h.authed(h.storage))
	h.mux.Handle("GET "+RouteBuckets, h.authed(h.buckets))
	h.mux.Handle("GET "+RouteConfirm, h.authed(h.confirm))
	h.mux.Handle("POST "+RouteAction, h.authed(h.act))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, http.StatusNotFound, "message", pageData{Title: "Not found", Message: "There is no console page at " + r.URL.Path + "."})
	})
	return h, nil
}

// ServeHTTP sets the security headers every answer carries, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on the
	// forms' POSTs, which sameOrigin refuses.
	hd.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, routeStatic) {
		hd.Set("Cache-Control", "no-store")
	}
	h.mux.ServeHTTP(w, r)
}

type authedFunc func(w http.ResponseWriter, r *http.Request, ss session)

// authed serves f to a logged-in operator; anyone else is sent to the login form (a GET) or
// refused (a POST: 403, nothing done).
func (h *Handler) authed(f authedFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, ok := h.sessions.get(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, RouteLogin+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.render(w, http.StatusForbidden, "message", pageData{Title: "Not logged in", Message: "Your session has ended or you are not logged in: nothing was done. Log in and try again."})
			return
		}
		f(w, r, ss)
	})
}

// sameOrigin refuses a POST whose Origin header names another origin (browsers send it on
// every POST), or is "null" (an opaque origin: a sandboxed frame, a data: page). It backs up
// the CSRF token and SameSite=Strict; a request without Origin (curl, old browsers) is judged
// by the token alone.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (h *Handler) up(w http.ResponseWriter, r *http.Request) {
	ready, _ := h.opts.Source.Ready()
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	// The public page says only whether the node is up and ready: the reason can name other
	// nodes and is for the logged-in pages.
	h.render(w, status, "up", pageData{Title: "Status", Ready: ready})
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.sessions.get(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "login", pageData{Title: "Log in", Next: safeNext(r.URL.Query().Get("next"))})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<14)
	next := safeNext(r.PostFormValue("next"))
	if !sameOrigin(r) {
		h.render(w, http.StatusForbidden, "login", pageData{Title: "Log in", Next: next, Error: "The login form was posted from another site."})
		return
	}
	got := r.PostFormValue("token")
	if h.opts.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.Token)) != 1 {
		h.render(w, http.StatusUnauthorized, "login", pageData{Title: "Log in", Next: next, Error: "Wrong admin token (admin.token, or the one in data_dir/credentials.json)."})
		return
	}
	ss := h.sessions.create()
	http.SetCookie(w, sessionCookie(r, ss.id, h.opts.SessionMax))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, ss session) {
	if !sameOrigin(r) || !validCSRF(ss, r.PostFormValue("csrf")) {
		h.refuseCSRF(w, ss)
		return
	}
	h.sessions.end(ss.id)
	http.SetCookie(w, sessionCookie(r, "", 0))
	http.Redirect(w, r, RouteLogin, http.StatusSeeOther)
}

// safeNext keeps a post-login destination on this console: a local path, else the cluster
// page (an open redirect would let a link send an operator elsewhere after logging in).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, RouteLogin) {
		return RouteCluster
	}
	return next
}

func (h *Handler) loadCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

func (h *Handler) cluster(w http.ResponseWriter, r *http.Request, ss session) {
	ctx, cancel := h.loadCtx(r)
	defer cancel()
	v, err := h.opts.Source.Cluster(ctx)
	d := h.base(ss, "Cluster", RouteCluster, err)
	d.Cluster = newClusterPage(v)
	h.render(w, http.StatusOK, "cluster", d)
}

func (h *Handler) storage(w http.ResponseWriter, r *http.Request, ss session) {
	ctx, cancel := h.loadCtx(r)
	defer cancel()
	v, err := h.opts.Source.Storage(ctx)
	d := h.base(ss, "Storage", RouteStorage, err)
	d.Storage = &v
	h.render(w, http.StatusOK, "storage", d)
}

func (h *Handler) buckets(w http.ResponseWriter, r *http.Request, ss session) {
	ctx, cancel := h.loadCtx(r)
	defer cancel()
	v, err := h.opts.Source.Buckets(ctx)
	d := h.base(ss, "Buckets", RouteBuckets, err)
	d.Buckets = &v
	h.render(w, http.StatusOK, "buckets", d)
}

// confirm asks the operator to confirm an action; the answer posts the action with the CSRF
// token. Nothing changes on a GET.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, ss session) {
	q := r.URL.Query()
	a, ok := actions[q.Get("action")]
	node := q.Get("node")
	if !ok || (a.NeedNode && node == "") {
		d := h.base(ss, "Unknown action", RouteCluster, nil)
		d.Message = fmt.Sprintf("Unknown action %q (or no node named): promote, demote, drain and remove need a node; transfer takes an optional one.", q.Get("action"))
		h.render(w, http.StatusBadRequest, "message", d)
		return
	}
	d := h.base(ss, "Confirm: "+a.Label, RouteCluster, nil)
	target := node
	if a.Name == "transfer" {
		target = "to any up-to-date voter"
		if node != "" {
			target = "to " + node
		}
	}
	d.Confirm = &confirmPage{Action: a.Name, Label: a.Label, Node: node, Question: fmt.Sprintf(a.Question, target)}
	h.render(w, http.StatusOK, "confirm", d)
}

// act carries out a confirmed action: the CSRF token must match the session's and the form
// must say confirm=yes; the result goes to the cluster page as a one-time message (a reload
// does not repeat the action).
func (h *Handler) act(w http.ResponseWriter, r *http.Request, ss session) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<14)
	if !sameOrigin(r) || !validCSRF(ss, r.PostFormValue("csrf")) {
		h.refuseCSRF(w, ss)
		return
	}
	a, ok := actions[r.PostFormValue("action")]
	node := r.PostFormValue("node")
	if !ok || (a.NeedNode && node == "") || r.PostFormValue("confirm") != "yes" {
		d := h.base(ss, "Not done", RouteCluster, nil)
		d.Message = "The action was not confirmed or is unknown: nothing was done."
		h.render(w, http.StatusBadRequest, "message", d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.ActionTimeout)
	defer cancel()
	var err error
	result := node
	switch a.Name {
	case "promote":
		err = h.opts.Actions.Promote(ctx, node)
	case "demote":
		err = h.opts.Actions.Demote(ctx, node)
	case "drain":
		err = h.opts.Actions.Drain(ctx, node)
	case "remove":
		err = h.opts.Actions.Remove(ctx, node)
	case "transfer":
		var leader string
		leader, err = h.opts.Actions.TransferLeadership(ctx, node)
		result = "the leader is now " + leader
	}
	f := flash{OK: err == nil, Text: fmt.Sprintf(a.Done, result)}
	switch {
	case errors.Is(err, ErrNotAvailable):
		f.Text = fmt.Sprintf("%s is not available on this build: nothing was done (%v)", a.Label, err)
	case err != nil:
		f.Text = fmt.Sprintf("%s failed: %v", a.Label, err)
	}
	h.sessions.setFlash(ss.id, f)
	http.Redirect(w, r, RouteCluster, http.StatusSeeOther)
}

func (h *Handler) refuseCSRF(w http.ResponseWriter, ss session) {
	d := h.base(ss, "Refused", RouteCluster, nil)
	d.Message = "The form's security token is missing or does not match your session (a form from another site, or from before you logged in again): nothing was done. Reload the page and try again."
	h.render(w, http.StatusForbidden, "message", d)
}

// base is what every logged-in page shows: the header, the navigation, the logout form, a
// load error and a one-time message.
func (h *Handler) base(ss session, title, nav string, err error) pageData {
	d := pageData{Title: title, Nav: nav, NodeID: h.opts.NodeID, CSRF: ss.csrf, LoggedIn: true, Flash: h.sessions.takeFlash(ss.id), Now: h.opts.Now()}
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

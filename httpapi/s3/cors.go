package s3

import (
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nebulaio/nebulaio/fsm"
)

// CORS: Put/Get/DeleteBucketCors, the preflight (OPTIONS, never signed, answered from the
// bucket's rules before authentication) and the CORS headers of actual responses.

type corsConfiguration struct {
	XMLName xml.Name      `xml:"CORSConfiguration"`
	Xmlns   string        `xml:"xmlns,attr,omitempty"`
	Rules   []corsRuleXML `xml:"CORSRule"`
}

type corsRuleXML struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int64   `xml:"MaxAgeSeconds"`
}

var corsElements = []string{"CORSConfiguration", "CORSRule", "ID", "AllowedHeader", "AllowedMethod", "AllowedOrigin", "ExposeHeader", "MaxAgeSeconds"}

// corsMethods are the methods a CORS rule may allow (S3's list).
var corsMethods = []string{"GET", "PUT", "HEAD", "POST", "DELETE"}

// ErrAccessForbidden: a CORS preflight the bucket's rules do not allow (S3's code).
var ErrAccessForbidden = &Error{"AccessForbidden", http.StatusForbidden, "CORSResponse: This CORS request is not allowed."}

// errBadPreflight: a preflight without Origin or Access-Control-Request-Method.
var errBadPreflight = &Error{"BadRequest", http.StatusBadRequest, "Insufficient information. Origin request header needed."}

func (h *handler) putBucketCors(rq *request) error {
	var cfg corsConfiguration
	if err := readConfigXML(rq, &cfg, corsElements, nil); err != nil {
		return err
	}
	if len(cfg.Rules) == 0 || len(cfg.Rules) > fsm.MaxCORSRules {
		return ErrMalformedXML.with("a CORSConfiguration holds 1 to %d CORSRule elements, not %d", fsm.MaxCORSRules, len(cfg.Rules))
	}
	rules := make([]fsm.CORSRule, 0, len(cfg.Rules))
	for _, x := range cfg.Rules {
		r, err := x.rule()
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	if _, err := h.propose(rq, &fsm.PutBucketCors{Bucket: rq.bucket, Rules: rules}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// rule checks one CORSRule as S3 does and maps it.
func (x *corsRuleXML) rule() (fsm.CORSRule, error) {
	r := fsm.CORSRule{ID: x.ID, AllowedOrigins: x.AllowedOrigins, AllowedMethods: x.AllowedMethods,
		AllowedHeaders: x.AllowedHeaders, ExposeHeaders: x.ExposeHeaders, MaxAgeSeconds: -1}
	switch {
	case len(x.ID) > 255:
		return r, ErrInvalidArgument.with("a CORSRule ID has at most 255 characters")
	case len(x.AllowedOrigins) == 0 || len(x.AllowedMethods) == 0:
		return r, ErrMalformedXML.with("a CORSRule needs at least one AllowedOrigin and one AllowedMethod")
	}
	for _, m := range x.AllowedMethods {
		if !slices.Contains(corsMethods, m) {
			return r, ErrInvalidRequest.with("Found unsupported HTTP method in CORS config. Unsupported method is %.20s", m)
		}
	}
	for _, list := range []struct {
		what   string
		values []string
		max    int
	}{{"AllowedOrigin", x.AllowedOrigins, 1}, {"AllowedHeader", x.AllowedHeaders, 1}, {"ExposeHeader", x.ExposeHeaders, 0}} {
		for _, v := range list.values {
			if n := strings.Count(v, "*"); n > list.max {
				return r, ErrInvalidRequest.with("%s %q can not have more than %d wildcard", list.what, v, list.max)
			}
		}
	}
	if x.MaxAgeSeconds != nil {
		if *x.MaxAgeSeconds < 0 {
			return r, ErrInvalidArgument.with("MaxAgeSeconds must not be negative")
		}
		r.MaxAgeSeconds = *x.MaxAgeSeconds
	}
	return r, nil
}

func (h *handler) getBucketCors(rq *request) error {
	if err := h.bucketExists(rq); err != nil {
		return err
	}
	rules, err := h.b.BucketCors(rq.bucket)
	if err != nil {
		return err
	}
	out := corsConfiguration{Xmlns: s3Namespace}
	for _, r := range rules {
		x := corsRuleXML{ID: r.ID, AllowedHeaders: r.AllowedHeaders, AllowedMethods: r.AllowedMethods,
			AllowedOrigins: r.AllowedOrigins, ExposeHeaders: r.ExposeHeaders}
		if r.MaxAgeSeconds >= 0 {
			n := r.MaxAgeSeconds
			x.MaxAgeSeconds = &n
		}
		out.Rules = append(out.Rules, x)
	}
	return writeXML(rq, out)
}

func (h *handler) deleteBucketCors(rq *request) error {
	if _, err := h.propose(rq, &fsm.PutBucketCors{Bucket: rq.bucket}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// wildcardMatch matches s against pattern, which holds at most one '*' (any run of
// characters). fold compares case-insensitively (header names).
func wildcardMatch(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	pre, suf, ok := strings.Cut(pattern, "*")
	if !ok {
		return pattern == s
	}
	return len(s) >= len(pre)+len(suf) && strings.HasPrefix(s, pre) && strings.HasSuffix(s, suf)
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s, fold) {
			return true
		}
	}
	return false
}

// corsMatch returns the first rule that allows origin with method and every header (lower
// case), and the pattern that matched the origin.
func corsMatch(rules []fsm.CORSRule, origin, method string, headers []string) (*fsm.CORSRule, string) {
	for i := range rules {
		r := &rules[i]
		if !slices.Contains(r.AllowedMethods, method) {
			continue
		}
		pattern := ""
		for _, o := range r.AllowedOrigins {
			if wildcardMatch(o, origin, false) {
				pattern = o
				break
			}
		}
		if pattern == "" {
			continue
		}
		allowed := true
		for _, hd := range headers {
			if !anyMatch(r.AllowedHeaders, hd, true) {
				allowed = false
				break
			}
		}
		if allowed {
			return r, pattern
		}
	}
	return nil, ""
}

// setAllowOrigin sets the headers every allowed CORS answer carries.
func setAllowOrigin(hd http.Header, r *fsm.CORSRule, pattern, origin string) {
	if pattern == "*" {
		hd.Set("Access-Control-Allow-Origin", "*")
	} else {
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Credentials", "true")
	}
	hd.Set("Access-Control-Allow-Methods", strings.Join(r.AllowedMethods, ", "))
	if len(r.ExposeHeaders) > 0 {
		hd.Set("Access-Control-Expose-Headers", strings.Join(r.ExposeHeaders, ", "))
	}
	if r.MaxAgeSeconds >= 0 {
		hd.Set("Access-Control-Max-Age", strconv.FormatInt(r.MaxAgeSeconds, 10))
	}
}

// preflight answers an OPTIONS request from the bucket's CORS rules: 200 with the allowed
// origin, methods and headers, or 403 AccessForbidden when no rule allows it.
func (h *handler) preflight(rq *request) error {
	hd := rq.r.Header
	origin, method := hd.Get("Origin"), hd.Get("Access-Control-Request-Method")
	switch {
	case rq.bucket == "":
		return errBadPreflight.with("a CORS preflight names a bucket")
	case origin == "":
		return errBadPreflight
	case method == "":
		return errBadPreflight.with("Invalid Access-Control-Request-Method: it is missing")
	}
	if err := h.bucketExists(rq); err != nil {
		return err
	}
	rules, err := h.b.BucketCors(rq.bucket)
	if errors.Is(err, &fsm.Error{Code: fsm.CodeNoSuchCORSConfiguration}) {
		return ErrAccessForbidden.with("CORSResponse: CORS is not enabled for this bucket.")
	}
	if err != nil {
		return err
	}
	var headers []string
	for _, v := range hd.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				headers = append(headers, name)
			}
		}
	}
	r, pattern := corsMatch(rules, origin, method, headers)
	if r == nil {
		return ErrAccessForbidden.with("CORSResponse: This CORS request is not allowed. This is usually because the evaluation of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")
	}
	out := rq.w.Header()
	setAllowOrigin(out, r, pattern, origin)
	if len(headers) > 0 {
		out.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	out.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	out.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// corsHeaders adds the CORS headers to the answer of an actual request whose Origin a rule of
// its bucket allows with its method. It reads this node's state without a barrier: a rule
// changed a moment ago may take effect a moment later here.
func (h *handler) corsHeaders(rq *request) {
	rules, err := h.b.BucketCors(rq.bucket)
	if err != nil {
		return
	}
	origin := rq.r.Header.Get("Origin")
	if r, pattern := corsMatch(rules, origin, rq.r.Method, nil); r != nil {
		hd := rq.w.Header()
		setAllowOrigin(hd, r, pattern, origin)
		hd.Set("Vary", "Origin")
	}
}

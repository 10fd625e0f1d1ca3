package iam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// ErrMalformedPolicy is returned (wrapped, with the element at fault named) for a policy
// document that does not parse, uses an element, operator, condition key or principal this
// subset does not support, or names no S3 action or a resource outside its bucket. S3 answers
// MalformedPolicy; the admin API 400.
var ErrMalformedPolicy = errors.New("iam: malformed policy")

func perr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedPolicy, fmt.Sprintf(format, args...))
}

// MaxDocumentSize bounds a policy document (AWS's limit for bucket policies: 20 KiB).
const MaxDocumentSize = 20 << 10

// Policy versions AWS defines; a document without Version is read as 2008-10-17, as AWS does
// (the two differ only in policy variables, which this subset refuses anyway).
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Effects of a statement.
const (
	Allow = "Allow"
	Deny  = "Deny"
)

// Policy is a parsed policy document: an identity policy (attached to users, no Principal) or
// a bucket policy (every statement names its Principal, every resource is in the bucket).
type Policy struct {
	Version    string
	ID         string
	Statements []Statement
	bucket     string // the bucket of a bucket policy; "" for identity policies
}

// Statement is one statement of a policy.
type Statement struct {
	Sid    string
	Effect string // Allow or Deny
	// Principals: who a bucket policy statement applies to (nil in identity policies).
	Principals *Principals
	// Actions (patterns); NotAction inverts the match.
	Actions   []string
	NotAction bool
	// Resources (ARN patterns or "*"); NotResource inverts the match.
	Resources   []string
	NotResource bool
	Conditions  []Condition
}

// Principals is a statement's Principal element.
type Principals struct {
	Any           bool     // "*" or {"AWS": "*"}: everyone, anonymous requests included
	Authenticated bool     // any signed request (canned ACL authenticated-read only; not parsable)
	Root          bool     // arn:aws:iam::<account>:root
	Users         []string // arn:aws:iam::<account>:user/<name>, sorted
}

// Condition is one test of a Condition block: Operator (without IfExists) applied to the
// request's value of Key.
type Condition struct {
	Operator string // StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike, IpAddress, NotIpAddress, Bool, Null
	IfExists bool
	Key      string // lower case: aws:sourceip, aws:securetransport, s3:prefix, s3:delimiter
	Values   []string
	nets     []netip.Prefix // IpAddress, NotIpAddress
}

// Condition keys this subset evaluates (lower case; keys compare case-insensitively).
const (
	KeySourceIP        = "aws:sourceip"
	KeySecureTransport = "aws:securetransport"
	KeyPrefix          = "s3:prefix"
	KeyDelimiter       = "s3:delimiter"
)

var conditionKeys = []string{KeySourceIP, KeySecureTransport, KeyPrefix, KeyDelimiter}

// Condition operators, and the keys each may test (nil: any supported key).
var operators = map[string][]string{
	"StringEquals": nil, "StringNotEquals": nil, "StringEqualsIgnoreCase": nil, "StringNotEqualsIgnoreCase": nil,
	"StringLike": nil, "StringNotLike": nil,
	"IpAddress": {KeySourceIP}, "NotIpAddress": {KeySourceIP},
	"Bool": {KeySecureTransport}, "Null": nil,
}

// ParseIdentityPolicy parses a policy document to attach to users. Its statements may not have
// a Principal.
func ParseIdentityPolicy(doc []byte) (*Policy, error) { return parse(doc, "") }

// ParseBucketPolicy parses the policy document of bucket: every statement has a Principal,
// and every Resource is the bucket or within it (arn:aws:s3:::bucket, arn:aws:s3:::bucket/...).
func ParseBucketPolicy(bucket string, doc []byte) (*Policy, error) {
	if bucket == "" {
		return nil, perr("no bucket")
	}
	return parse(doc, bucket)
}

// object decodes a JSON object into its members, refusing members whose names are not in
// allowed (element names are case-sensitive, as AWS's are).
func object(what string, raw json.RawMessage, allowed ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := strictUnmarshal(raw, &m); err != nil || m == nil {
		return nil, perr("%s must be a JSON object", what)
	}
	for k := range m {
		if !slices.Contains(allowed, k) {
			return nil, perr("%s: unknown or unsupported element %q (supported: %s)", what, k, strings.Join(allowed, ", "))
		}
	}
	return m, nil
}

func strictUnmarshal(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func parse(doc []byte, bucket string) (*Policy, error) {
	if len(doc) > MaxDocumentSize {
		return nil, perr("the document is %d bytes; the limit is %d", len(doc), MaxDocumentSize)
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, perr("the document is empty")
	}
	top, err := object("the policy", doc, "Version", "Id", "Statement")
	if err != nil {
		return nil, err
	}
	p := &Policy{bucket: bucket, Version: Version2008}
	if v, ok := top["Version"]; ok {
		if err := strictUnmarshal(v, &p.Version); err != nil || (p.Version != Version2012 && p.Version != Version2008) {
			return nil, perr("Version must be %q (or %q)", Version2012, Version2008)
		}
	}
	if v, ok := top["Id"]; ok {
		if err := strictUnmarshal(v, &p.ID); err != nil {
			return nil, perr("Id must be a string")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, perr("Statement is missing")
	}
	var list []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		if err := strictUnmarshal(raw, &list); err != nil {
			return nil, perr("Statement must be an object or a list of objects")
		}
	} else {
		list = []json.RawMessage{raw}
	}
	if len(list) == 0 {
		return nil, perr("Statement is empty")
	}
	for i, r := range list {
		st, err := p.parseStatement(r)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func (p *Policy) parseStatement(raw json.RawMessage) (Statement, error) {
	m, err := object("a statement", raw,
		"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition")
	if err != nil {
		return Statement{}, err
	}
	var st Statement
	if _, ok := m["NotPrincipal"]; ok {
		return st, perr("NotPrincipal is not supported")
	}
	if v, ok := m["Sid"]; ok {
		if err := strictUnmarshal(v, &st.Sid); err != nil {
			return st, perr("Sid must be a string")
		}
	}
	if err := strictUnmarshal(m["Effect"], &st.Effect); err != nil || (st.Effect != Allow && st.Effect != Deny) {
		return st, perr("Effect must be %q or %q", Allow, Deny)
	}
	if st.Actions, st.NotAction, err = pickList(m, "Action", "NotAction"); err != nil {
		return st, err
	}
	for _, a := range st.Actions {
		if err := checkActionPattern(a); err != nil {
			return st, err
		}
	}
	if st.Resources, st.NotResource, err = pickList(m, "Resource", "NotResource"); err != nil {
		return st, err
	}
	for _, r := range st.Resources {
		if err := p.checkResource(r); err != nil {
			return st, err
		}
	}
	raw, hasPrincipal := m["Principal"]
	switch {
	case p.bucket == "" && hasPrincipal:
		return st, perr("an identity policy has no Principal (it applies to the users it is attached to)")
	case p.bucket != "" && !hasPrincipal:
		return st, perr("Principal is missing (a bucket policy statement names whom it applies to)")
	case hasPrincipal:
		if st.Principals, err = parsePrincipal(raw); err != nil {
			return st, err
		}
	}
	if c, ok := m["Condition"]; ok {
		if st.Conditions, err = parseConditions(c); err != nil {
			return st, err
		}
	}
	return st, nil
}

// pickList reads exactly one of two string-or-list elements (Action/NotAction,
// Resource/NotResource); not says the second was given.
func pickList(m map[string]json.RawMessage, name, notName string) ([]string, bool, error) {
	v, has := m[name]
	nv, hasNot := m[notName]
	switch {
	case has && hasNot:
		return nil, false, perr("%s and %s together", name, notName)
	case !has && !hasNot:
		return nil, false, perr("%s (or %s) is missing", name, notName)
	case hasNot:
		l, err := stringList(notName, nv)
		return l, true, err
	}
	l, err := stringList(name, v)
	return l, false, err
}

// stringList reads a string or a non-empty list of strings.
func stringList(what string, raw json.RawMessage) ([]string, error) {
	var one string
	if strictUnmarshal(raw, &one) == nil {
		if one == "" {
			return nil, perr("%s is empty", what)
		}
		return []string{one}, nil
	}
	var l []string
	if err := strictUnmarshal(raw, &l); err != nil || len(l) == 0 {
		return nil, perr("%s must be a string or a non-empty list of strings", what)
	}
	for _, s := range l {
		if s == "" {
			return nil, perr("%s holds an empty string", what)
		}
	}
	return l, nil
}

const arnS3 = "arn:aws:s3:::"

func (p *Policy) checkResource(r string) error {
	if strings.Contains(r, "${") {
		return perr("resource %q: policy variables are not supported", r)
	}
	if r == "*" {
		if p.bucket != "" {
			return perr("resource \"*\" in a bucket policy: name the bucket (%s%s) or its objects (%s%s/*)", arnS3, p.bucket, arnS3, p.bucket)
		}
		return nil
	}
	rest, ok := strings.CutPrefix(r, arnS3)
	if !ok || rest == "" {
		return perr("resource %q is not an S3 ARN (%s<bucket>[/<key>])", r, arnS3)
	}
	if p.bucket != "" && rest != p.bucket && !strings.HasPrefix(rest, p.bucket+"/") {
		return perr("resource %q is outside bucket %q", r, p.bucket)
	}
	return nil
}

// parsePrincipal reads "*" or {"AWS": "*" | ARN | [ARN, ...]}.
func parsePrincipal(raw json.RawMessage) (*Principals, error) {
	var star string
	if strictUnmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, perr("Principal %q: use \"*\" or {\"AWS\": [...]}", star)
		}
		return &Principals{Any: true}, nil
	}
	m, err := object("Principal", raw, "AWS")
	if err != nil {
		return nil, err
	}
	ids, err := stringList("Principal AWS", m["AWS"])
	if err != nil {
		return nil, err
	}
	p := &Principals{}
	for _, id := range ids {
		switch user, kind := principalARN(id); kind {
		case "*":
			p.Any = true
		case "root":
			p.Root = true
		case "user":
			if !slices.Contains(p.Users, user) {
				p.Users = append(p.Users, user)
			}
		default:
			return nil, perr("principal %q: use \"*\", arn:aws:iam::<account>:user/<name> or arn:aws:iam::<account>:root", id)
		}
	}
	slices.Sort(p.Users)
	return p, nil
}

// principalARN classifies a principal: "*", an account root, or a user (with its name).
func principalARN(id string) (user, kind string) {
	if id == "*" {
		return "", "*"
	}
	rest, ok := strings.CutPrefix(id, "arn:aws:iam::")
	if !ok {
		return "", ""
	}
	account, res, ok := strings.Cut(rest, ":")
	if !ok || strings.ContainsAny(account, "*?") {
		return "", ""
	}
	if res == "root" {
		return "", "root"
	}
	name, ok := strings.CutPrefix(res, "user/")
	if !ok || name == "" || strings.ContainsAny(name, "/*?") {
		return "", ""
	}
	return name, "user"
}

func parseConditions(raw json.RawMessage) ([]Condition, error) {
	var block map[string]json.RawMessage
	if err := strictUnmarshal(raw, &block); err != nil || block == nil {
		return nil, perr("Condition must be an object of operators")
	}
	ops := make([]string, 0, len(block))
	for op := range block {
		ops = append(ops, op)
	}
	slices.Sort(ops) // deterministic order of the parsed conditions
	var out []Condition
	for _, op := range ops {
		base, ifExists := strings.CutSuffix(op, "IfExists")
		keysFor, ok := operators[base]
		if !ok || (ifExists && base == "Null") {
			return nil, perr("condition operator %q is not supported (supported: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike, IpAddress, NotIpAddress, Bool, Null, and ...IfExists)", op)
		}
		var keys map[string]json.RawMessage
		if err := strictUnmarshal(block[op], &keys); err != nil || len(keys) == 0 {
			return nil, perr("condition %s must be a non-empty object of keys", op)
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			c, err := parseCondition(base, ifExists, k, keys[k], keysFor)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func parseCondition(op string, ifExists bool, key string, raw json.RawMessage, keysFor []string) (Condition, error) {
	c := Condition{Operator: op, IfExists: ifExists, Key: strings.ToLower(key)}
	if !slices.Contains(conditionKeys, c.Key) {
		return c, perr("condition key %q is not supported (supported: aws:SourceIp, aws:SecureTransport, s3:prefix, s3:delimiter)", key)
	}
	if keysFor != nil && !slices.Contains(keysFor, c.Key) {
		return c, perr("condition %s does not apply to %s", op, key)
	}
	vals, err := conditionValues(raw)
	if err != nil {
		return c, perr("condition %s %s: %v", op, key, err)
	}
	c.Values = vals
	switch op {
	case "IpAddress", "NotIpAddress":
		for _, v := range vals {
			pfx, err := parseIPOrCIDR(v)
			if err != nil {
				return c, perr("condition %s %s: %q is not an IP address or CIDR block", op, key, v)
			}
			c.nets = append(c.nets, pfx)
		}
	case "Bool", "Null":
		for i, v := range vals {
			switch strings.ToLower(v) {
			case "true", "false":
				vals[i] = strings.ToLower(v)
			default:
				return c, perr("condition %s %s: %q is not true or false", op, key, v)
			}
		}
	}
	return c, nil
}

// conditionValues reads a condition's value: a string, boolean or number, or a non-empty
// list of them, as strings.
func conditionValues(raw json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		if err := strictUnmarshal(raw, &list); err != nil || len(list) == 0 {
			return nil, errors.New("values must be a non-empty list")
		}
	} else {
		list = []json.RawMessage{raw}
	}
	out := make([]string, 0, len(list))
	for _, r := range list {
		var v any
		if err := strictUnmarshal(r, &v); err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case bool:
			out = append(out, fmt.Sprint(x))
		case json.Number:
			out = append(out, x.String())
		default:
			return nil, errors.New("a value must be a string, a boolean or a number")
		}
	}
	return out, nil
}

func parseIPOrCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

package iam

import (
	"net/netip"
	"slices"
	"strings"
)

// PrincipalKind says who sent a request.
type PrincipalKind uint8

// Principal kinds.
const (
	Anonymous PrincipalKind = iota // an unsigned request
	Root                           // the root credentials (s3.access_key): every action is allowed
	User                           // an IAM user of this store
)

// Principal is the sender of a request.
type Principal struct {
	Kind PrincipalKind
	User string // the user's name (Kind User)
}

// Request is what a policy is evaluated against: one action on one resource by one principal,
// and the values of the condition keys (lower-case key → value; a key that does not apply to
// the request is absent).
type Request struct {
	Principal Principal
	Action    string // "s3:GetObject"
	Resource  string // "arn:aws:s3:::bucket/key", "arn:aws:s3:::bucket", or "arn:aws:s3:::*" for ListAllMyBuckets
	Context   map[string]string
}

// Decision is the outcome of evaluating policies.
type Decision uint8

// Decisions. NoDecision is an implicit deny: no statement allowed the request.
const (
	NoDecision Decision = iota
	Allowed
	Denied // an explicit Deny: nothing else can allow the request
)

func (d Decision) String() string {
	switch d {
	case Allowed:
		return "allowed"
	case Denied:
		return "denied"
	}
	return "no decision"
}

// Evaluate combines policies as AWS does within one account: an explicit Deny in any of them
// wins, then an Allow in any of them, else NoDecision (the request is refused). Nil policies
// are skipped.
func Evaluate(r *Request, policies ...*Policy) Decision {
	out := NoDecision
	for _, p := range policies {
		if p == nil {
			continue
		}
		switch p.Evaluate(r) {
		case Denied:
			return Denied
		case Allowed:
			out = Allowed
		}
	}
	return out
}

// Evaluate applies one policy: Denied if a Deny statement applies, Allowed if an Allow
// statement does, else NoDecision.
func (p *Policy) Evaluate(r *Request) Decision {
	out := NoDecision
	for i := range p.Statements {
		st := &p.Statements[i]
		if !st.applies(r) {
			continue
		}
		if st.Effect == Deny {
			return Denied
		}
		out = Allowed
	}
	return out
}

func (st *Statement) applies(r *Request) bool {
	if st.Principals != nil && !st.Principals.match(r.Principal) {
		return false
	}
	if anyMatch(st.Actions, r.Action, true) == st.NotAction {
		return false
	}
	if anyMatch(st.Resources, r.Resource, false) == st.NotResource {
		return false
	}
	for i := range st.Conditions {
		if !st.Conditions[i].holds(r.Context) {
			return false
		}
	}
	return true
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if match(p, s, fold) {
			return true
		}
	}
	return false
}

func (p *Principals) match(who Principal) bool {
	switch {
	case p.Any:
		return true
	case p.Authenticated && who.Kind != Anonymous:
		return true
	case who.Kind == Root:
		return p.Root
	case who.Kind == User:
		_, ok := slices.BinarySearch(p.Users, who.User)
		return ok
	}
	return false
}

// holds evaluates the condition against the request's context. A key absent from the request
// makes a condition false, except for the negated operators (StringNot*, NotIpAddress), which
// hold, for ...IfExists, which holds, and for Null, which tests exactly that.
func (c *Condition) holds(ctx map[string]string) bool {
	v, ok := ctx[c.Key]
	if c.Operator == "Null" {
		return slices.Contains(c.Values, boolText(!ok))
	}
	if !ok {
		return c.IfExists || negated(c.Operator)
	}
	switch c.Operator {
	case "StringEquals":
		return slices.Contains(c.Values, v)
	case "StringNotEquals":
		return !slices.Contains(c.Values, v)
	case "StringEqualsIgnoreCase":
		return slices.ContainsFunc(c.Values, func(x string) bool { return strings.EqualFold(x, v) })
	case "StringNotEqualsIgnoreCase":
		return !slices.ContainsFunc(c.Values, func(x string) bool { return strings.EqualFold(x, v) })
	case "StringLike":
		return anyMatch(c.Values, v, false)
	case "StringNotLike":
		return !anyMatch(c.Values, v, false)
	case "IpAddress", "NotIpAddress":
		a, err := netip.ParseAddr(v)
		in := err == nil && slices.ContainsFunc(c.nets, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
		return in == (c.Operator == "IpAddress")
	case "Bool":
		return slices.Contains(c.Values, strings.ToLower(v))
	}
	return false // parse refuses every other operator
}

func negated(op string) bool {
	return strings.HasPrefix(op, "StringNot") || op == "NotIpAddress"
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// IsPublic reports whether a bucket policy grants access to everyone: an Allow statement whose
// Principal is "*" (or {"AWS": "*"}) and which is not limited to a range of source addresses
// (an IpAddress condition on aws:SourceIp, without IfExists, whose every block is at least a
// /8 in IPv4 or a /32 in IPv6). This is the judgement behind GetBucketPolicyStatus and the
// block-public-access switches.
func (p *Policy) IsPublic() bool {
	if p == nil {
		return false
	}
	for i := range p.Statements {
		st := &p.Statements[i]
		if st.Effect == Allow && st.Principals != nil && st.Principals.Any && !st.ipRestricted() {
			return true
		}
	}
	return false
}

func (st *Statement) ipRestricted() bool {
	for _, c := range st.Conditions {
		if c.Operator != "IpAddress" || c.IfExists || c.Key != KeySourceIP {
			continue
		}
		narrow := true
		for _, n := range c.nets {
			min := 8
			if n.Addr().Is6() && !n.Addr().Is4In6() {
				min = 32
			}
			if n.Bits() < min {
				narrow = false
			}
		}
		if narrow {
			return true
		}
	}
	return false
}

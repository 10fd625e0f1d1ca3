package iam

// match reports whether s matches the wildcard pattern p: '*' matches any run of characters
// (none included) and '?' exactly one; every other character matches itself. fold compares
// ASCII letters case-insensitively (actions); resources and condition values compare exactly.
//
// The algorithm is the iterative one with a single backtrack point (the last '*'), so it runs
// in O(len(p)·len(s)) at worst and never recurses: a pattern like "a*a*a*a*b" cannot blow up.
func match(p, s string, fold bool) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || eqByte(p[pi], s[si], fold)):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func eqByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	return lower(a) == lower(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

package iam

import (
	"errors"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		p, s string
		fold bool
		want bool
	}{
		{"*", "", false, true},
		{"*", "anything", false, true},
		{"s3:Get*", "s3:GetObject", false, true},
		{"s3:get*", "s3:GetObject", true, true},
		{"s3:get*", "s3:GetObject", false, false},
		{"s3:*Object", "s3:PutObject", true, true},
		{"s3:*Object", "s3:PutObjectAcl", true, false},
		{"s3:?etObject", "s3:GetObject", true, true},
		{"s3:?etObject", "s3:etObject", true, false},
		{"arn:aws:s3:::bucket-a/*", "arn:aws:s3:::bucket-a/k", false, true},
		{"arn:aws:s3:::bucket-a/*", "arn:aws:s3:::bucket-a/", false, true},
		{"arn:aws:s3:::bucket-a/*", "arn:aws:s3:::bucket-a", false, false},
		{"arn:aws:s3:::bucket-a/*", "arn:aws:s3:::bucket-ab/k", false, false},
		{"arn:aws:s3:::bucket-a*", "arn:aws:s3:::bucket-ab", false, true},
		{"a*b*c", "aXXbYYc", false, true},
		{"a*b*c", "aXXbYY", false, false},
		{"a*a*a*a*a*a*b", strings.Repeat("a", 200), false, false}, // no exponential backtracking
		{"", "", false, true},
		{"", "x", false, false},
		{"x", "", false, false},
		{"**", "x", false, true},
	}
	for _, tc := range cases {
		if got := match(tc.p, tc.s, tc.fold); got != tc.want {
			t.Errorf("match(%q, %q, fold %v) = %v, want %v", tc.p, tc.s, tc.fold, got, tc.want)
		}
	}
}

// TestParseErrors: every document the subset does not support is refused, naming what is wrong.
func TestParseErrors(t *testing.T) {
	st := func(body string) string { return `{"Version":"2012-10-17","Statement":[{` + body + `}]}` }
	ok := `"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`
	cases := []struct {
		name   string
		bucket string // "" identity policy
		doc    string
		want   string // part of the error message
	}{
		{"empty", "", ``, "empty"},
		{"not json", "", `{`, "JSON object"},
		{"trailing", "", `{"Statement":[{` + ok + `}]} x`, "JSON object"},
		{"array", "", `[]`, "JSON object"},
		{"unknown top element", "", `{"Version":"2012-10-17","Statement":[{` + ok + `}],"Extra":1}`, `"Extra"`},
		{"bad version", "", `{"Version":"2020-01-01","Statement":[{` + ok + `}]}`, "Version"},
		{"no statement", "", `{"Version":"2012-10-17"}`, "Statement is missing"},
		{"empty statement list", "", `{"Version":"2012-10-17","Statement":[]}`, "Statement is empty"},
		{"lower-case element", "", st(`"effect":"Allow","Action":"s3:GetObject","Resource":"*"`), `"effect"`},
		{"bad effect", "", st(`"Effect":"Permit","Action":"s3:GetObject","Resource":"*"`), "Effect"},
		{"no action", "", st(`"Effect":"Allow","Resource":"*"`), "Action (or NotAction) is missing"},
		{"both actions", "", st(`"Effect":"Allow","Action":"s3:*","NotAction":"s3:GetObject","Resource":"*"`), "together"},
		{"empty action list", "", st(`"Effect":"Allow","Action":[],"Resource":"*"`), "non-empty list"},
		{"typo action", "", st(`"Effect":"Allow","Action":"s3:GetObjcet","Resource":"*"`), "matches no S3 action"},
		{"other service", "", st(`"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"`), "only s3: actions"},
		{"no resource", "", st(`"Effect":"Allow","Action":"s3:*"`), "Resource (or NotResource) is missing"},
		{"not an arn", "", st(`"Effect":"Allow","Action":"s3:*","Resource":"bucket/*"`), "not an S3 ARN"},
		{"policy variable", "", st(`"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*"`), "policy variables"},
		{"principal in identity policy", "", st(`"Effect":"Allow","Principal":"*",` + `"Action":"s3:*","Resource":"*"`), "identity policy has no Principal"},
		{"not principal", "b", st(`"Effect":"Allow","NotPrincipal":"*",` + ok), "NotPrincipal"},
		{"bucket policy without principal", "b", st(ok), "Principal is missing"},
		{"service principal", "b", st(`"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},` + ok), `"Service"`},
		{"account id principal", "b", st(`"Effect":"Allow","Principal":{"AWS":"123456789012"},` + ok), "principal"},
		{"user path principal", "b", st(`"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/a/b"},` + ok), "principal"},
		{"resource outside bucket", "b", st(`"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"`), "outside bucket"},
		{"bucket prefix is not the bucket", "b", st(`"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bx/*"`), "outside bucket"},
		{"star resource in bucket policy", "b", st(`"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"`), "name the bucket"},
		{"unknown operator", "", st(ok + `,"Condition":{"NumericLessThan":{"s3:max-keys":"10"}}`), "NumericLessThan"},
		{"set operator", "", st(ok + `,"Condition":{"ForAnyValue:StringEquals":{"s3:prefix":"a"}}`), "ForAnyValue"},
		{"unknown key", "", st(ok + `,"Condition":{"StringEquals":{"aws:username":"bob"}}`), "aws:username"},
		{"ip on prefix", "", st(ok + `,"Condition":{"IpAddress":{"s3:prefix":"10.0.0.0/8"}}`), "does not apply"},
		{"bad cidr", "", st(ok + `,"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}`), "not an IP address"},
		{"bad bool", "", st(ok + `,"Condition":{"Bool":{"aws:SecureTransport":"yes"}}`), "not true or false"},
		{"null if exists", "", st(ok + `,"Condition":{"NullIfExists":{"s3:prefix":"true"}}`), "NullIfExists"},
		{"empty condition values", "", st(ok + `,"Condition":{"StringEquals":{"s3:prefix":[]}}`), "non-empty list"},
		{"object condition value", "", st(ok + `,"Condition":{"StringEquals":{"s3:prefix":{"a":1}}}`), "value must be"},
		{"too large", "", `{"Statement":[{` + ok + `,"Sid":"` + strings.Repeat("x", MaxDocumentSize) + `"}]}`, "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.bucket == "" {
				_, err = ParseIdentityPolicy([]byte(tc.doc))
			} else {
				_, err = ParseBucketPolicy(tc.bucket, []byte(tc.doc))
			}
			if !errors.Is(err, ErrMalformedPolicy) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrMalformedPolicy mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseForms(t *testing.T) {
	// A single statement object, string and list forms, both principals' shapes, no Version.
	p, err := ParseBucketPolicy("b", []byte(`{"Id":"x","Statement":{"Sid":"one","Effect":"Deny",
		"Principal":{"AWS":["arn:aws:iam::123456789012:user/bob","arn:aws:iam:::user/alice","arn:aws:iam::1:root","arn:aws:iam::1:user/bob"]},
		"NotAction":["s3:Get*","s3:List*"],"NotResource":"arn:aws:s3:::b/public/*",
		"Condition":{"StringLikeIfExists":{"S3:Prefix":["a/*",""]},"Bool":{"aws:SecureTransport":false},"IpAddress":{"aws:SourceIp":"10.1.2.3"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != Version2008 || p.ID != "x" || len(p.Statements) != 1 {
		t.Fatalf("%+v", p)
	}
	st := p.Statements[0]
	if st.Sid != "one" || st.Effect != Deny || !st.NotAction || !st.NotResource || len(st.Actions) != 2 {
		t.Fatalf("%+v", st)
	}
	if got := st.Principals; got.Any || !got.Root || strings.Join(got.Users, ",") != "alice,bob" {
		t.Fatalf("principals %+v", got)
	}
	if len(st.Conditions) != 3 || st.Conditions[0].Operator != "Bool" || st.Conditions[0].Values[0] != "false" ||
		st.Conditions[1].Key != KeySourceIP || st.Conditions[1].nets[0].Bits() != 32 ||
		st.Conditions[2].Operator != "StringLike" || !st.Conditions[2].IfExists || st.Conditions[2].Key != KeyPrefix {
		t.Fatalf("conditions %+v", st.Conditions)
	}
}

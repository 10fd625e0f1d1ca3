package trust

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustSecret(t testing.TB) Secret {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustID(t testing.TB) string {
	t.Helper()
	id, err := NewClusterID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSecretText(t *testing.T) {
	s := mustSecret(t)
	for _, text := range []string{
		s.Text(),
		base64.StdEncoding.EncodeToString(s[:]),
		base64.URLEncoding.EncodeToString(s[:]),
		base64.RawStdEncoding.EncodeToString(s[:]),
		"  " + s.Text() + "\n",
	} {
		got, err := ParseSecret(text)
		if err != nil || !got.Equal(s) {
			t.Fatalf("ParseSecret(%q) = %v, want the secret back", text, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(s[:31]), base64.StdEncoding.EncodeToString(append(s[:], 0))} {
		if _, err := ParseSecret(bad); !errors.Is(err, ErrSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrSecret", bad, err)
		}
	}
}

// TestSecretsNeverPrint: formatting a secret, a token, or a struct holding them prints no
// key material.
func TestSecretsNeverPrint(t *testing.T) {
	s := mustSecret(t)
	tok := Token{ClusterID: mustID(t), Secret: s}
	id := Identity{ClusterID: tok.ClusterID, Secret: s}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{s, tok, id, &id} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, s.Text()) || strings.Contains(out, tok.Text()) || bytes.Contains([]byte(out), s[:8]) {
				t.Errorf("%s of %T prints the secret: %s", verb, v, out)
			}
		}
	}
}

func TestClusterID(t *testing.T) {
	a, b := mustID(t), mustID(t)
	if a == b || CheckClusterID(a) != nil || len(a) != 16 {
		t.Fatalf("NewClusterID = %q, %q", a, b)
	}
	for _, bad := range []string{"", "3F9A1C0E5B7D2A4F", "3f9a1c0e5b7d2a4", "3f9a1c0e5b7d2a4fz", "3f9a1c0e5b7d2a4g"} {
		if err := CheckClusterID(bad); !errors.Is(err, ErrClusterID) {
			t.Errorf("CheckClusterID(%q) = %v", bad, err)
		}
	}
}

func TestTokenRoundTrip(t *testing.T) {
	tok := Token{ClusterID: mustID(t), Secret: mustSecret(t)}
	text := tok.Text()
	if len(text) != 71 || !strings.HasPrefix(text, "nbio1."+tok.ClusterID+".") {
		t.Fatalf("token text %q (%d chars)", text, len(text))
	}
	got, err := ParseToken("  " + text + "\n")
	if err != nil || got.ClusterID != tok.ClusterID || !got.Secret.Equal(tok.Secret) {
		t.Fatalf("ParseToken = %+v, %v", got, err)
	}
}

// TestTokenDamage: a token with any one character changed, cut short or lengthened, with its
// cluster ID edited or its prefix wrong, is refused with ErrToken — never read as another
// cluster or another secret.
func TestTokenDamage(t *testing.T) {
	tok := Token{ClusterID: mustID(t), Secret: mustSecret(t)}
	text := tok.Text()
	alphabet := "0123456789abcdefABCDEF-_.xyz"
	for i := range len(text) {
		for _, c := range alphabet {
			if byte(c) == text[i] {
				continue
			}
			bad := text[:i] + string(c) + text[i+1:]
			if got, err := ParseToken(bad); err == nil {
				t.Fatalf("ParseToken accepted %q (changed at %d) as cluster %s", bad, i, got.ClusterID)
			} else if !errors.Is(err, ErrToken) {
				t.Fatalf("ParseToken(%q) = %v, want ErrToken", bad, err)
			}
		}
	}
	for _, bad := range []string{text[:len(text)-1], text + "A", "nbio2" + text[5:], strings.Replace(text, ".", "", 1), ""} {
		if _, err := ParseToken(bad); !errors.Is(err, ErrToken) {
			t.Errorf("ParseToken(%q) = %v, want ErrToken", bad, err)
		}
	}
	// Errors never carry the secret.
	_, err := ParseToken(text[:len(text)-1] + "!")
	if err == nil || strings.Contains(err.Error(), text[23:60]) {
		t.Fatalf("error %v", err)
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(Token{ClusterID: "0123456789abcdef", Secret: Secret{1, 2, 3}}.Text())
	f.Add("nbio1.0123456789abcdef.")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		tok, err := ParseToken(text)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same text (up to surrounding space).
		if tok.Text() != strings.TrimSpace(text) {
			t.Fatalf("ParseToken(%q) re-encodes as %q", text, tok.Text())
		}
	})
}

func TestDerivations(t *testing.T) {
	a, b := mustSecret(t), mustSecret(t)
	if !bytes.Equal(a.GossipKey(), a.GossipKey()) || len(a.GossipKey()) != 32 {
		t.Fatal("GossipKey is not a stable 32-byte value")
	}
	if bytes.Equal(a.GossipKey(), b.GossipKey()) || bytes.Contains(a.GossipKey(), a[:8]) {
		t.Fatal("GossipKey does not depend on the secret, or contains it")
	}
	if bytes.Equal(a.derive(infoGossipKey, 32), a.derive(infoCAKey, 32)) {
		t.Fatal("two purposes derive the same bytes")
	}
}

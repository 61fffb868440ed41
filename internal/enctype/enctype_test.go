package enctype

import (
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

func TestNamesRoundTrip(t *testing.T) {
	for id, name := range names {
		got, ok := ID(name)
		if !ok || got != id || Name(id) != name {
			t.Errorf("%d %q: ID=%d,%v Name=%q", id, name, got, ok, Name(id))
		}
	}
	for alias, want := range map[string]int32{"arcfour-hmac": 23, "AES256-CTS-HMAC-SHA1-96": 18, " rc4-hmac ": 23} {
		if got, ok := ID(alias); !ok || got != want {
			t.Errorf("ID(%q) = %d, %v; want %d", alias, got, ok, want)
		}
	}
	if _, ok := ID("des-cbc-crc"); ok {
		t.Error("des-cbc-crc accepted: gokrb5 does not implement it")
	}
	if Name(99) != "etype 99" || Known(99) {
		t.Error("unknown type")
	}
}

// The table and its aliases agree with gokrb5's, which does the crypto. The
// DES3 names are MIT's: krb5.conf reads des3-cbc-sha1 and des3-hmac-sha1 as
// type 16, where gokrb5's name table has the unkeyed types 7 and 8.
func TestAgreesWithGokrb5(t *testing.T) {
	mitOnly := func(name string) bool { return strings.HasPrefix(name, "des3-") }
	for id, name := range names {
		if got := etypeID.ETypesByName[name]; got != id && !mitOnly(name) {
			t.Errorf("%q: %d here, %d in gokrb5", name, id, got)
		}
		if _, err := crypto.GetEtype(id); err != nil {
			t.Errorf("%q: gokrb5 does not implement it: %v", name, err)
		}
	}
	for alias, id := range aliases {
		if got := etypeID.ETypesByName[alias]; got != id && !mitOnly(alias) {
			t.Errorf("alias %q: %d here, %d in gokrb5", alias, id, got)
		}
	}
}

func TestSalt(t *testing.T) {
	for _, c := range []struct {
		realm, account string
		id             int32
		want           string
	}{
		{"LAB.TEST", "HUB01$", AES256CTSHMACSHA196, "LAB.TESThosthub01.lab.test"},
		{"CONTOSO.COM", "EXCH-HUB01$", AES128CTSHMACSHA196, "CONTOSO.COMhostexch-hub01.contoso.com"},
		{"LAB.TEST", "exadmin", AES256CTSHMACSHA196, "LAB.TESTexadmin"},
		{"LAB.TEST", "HUB01$", RC4HMAC, ""},
		{"LAB.TEST", "$", AES256CTSHMACSHA196, "LAB.TEST$"},
	} {
		if got := Salt(c.realm, c.account, c.id); got != c.want {
			t.Errorf("Salt(%q, %q, %d) = %q, want %q", c.realm, c.account, c.id, got, c.want)
		}
	}
}

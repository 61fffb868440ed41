package krbclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/test/testdata"

	"github.com/exauth/exauth/internal/clock"
)

func TestFromCCache_UnsupportedTypesNameTheFix(t *testing.T) {
	for _, name := range []string{"KEYRING:persistent:0", "KCM:0", "API:foo", "DIR:/run/user/0/krb5cc", "MEMORY:x", "keyring:session:x"} {
		_, err := FromCCache(name)
		cerr, ok := errorsAs[*CredentialsError](err)
		if !ok || !strings.Contains(cerr.Hint, "KRB5CCNAME=FILE:/tmp/krb5cc_exauth kinit") || !strings.Contains(cerr.Source, name) {
			t.Errorf("FromCCache(%q) = %v, want a CredentialsError with the kinit hint", name, err)
		}
	}
}

func TestFromCCache_FileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	garbage := filepath.Join(dir, "garbage")
	truncated := filepath.Join(dir, "truncated")
	os.WriteFile(empty, nil, 0o600)
	os.WriteFile(garbage, []byte("this is not a ccache"), 0o600)
	full := mustHex(t, testdata.CCACHE_TEST)
	os.WriteFile(truncated, full[:100], 0o600)
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"missing FILE:", "FILE:" + filepath.Join(dir, "nope"), "no such file"},
		{"empty FILE:", "FILE:", "no file named"},
		{"empty file", empty, "malformed ccache"},
		{"garbage", garbage, "malformed ccache"},
		{"truncated: principal only", truncated, "no ticket-granting ticket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromCCache(tc.path)
			cerr, ok := errorsAs[*CredentialsError](err)
			if !ok || !strings.Contains(err.Error(), tc.want) || cerr.Hint == "" {
				t.Fatalf("err = %v, want a CredentialsError containing %q with a hint", err, tc.want)
			}
		})
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gokrb5's test ccache holds a TGT for testuser1@TEST.GOKRB5 valid on
// 2017-07-12/13.
func writeTestCCache(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "krb5cc_test")
	if err := os.WriteFile(p, mustHex(t, testdata.CCACHE_TEST), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFromCCache_TGTAndExpiry(t *testing.T) {
	path := writeTestCCache(t)
	creds, err := FromCCache("FILE:" + path)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Principal() != "testuser1@TEST.GOKRB5" {
		t.Errorf("principal = %q", creds.Principal())
	}
	end := creds.tgt.endTime
	if end.IsZero() || creds.tgt.ticket.Realm != "TEST.GOKRB5" {
		t.Fatalf("tgt = %v", creds.tgt)
	}

	clk := clock.NewFake(end.Add(-time.Hour))
	c := newClient(t, Config{Realm: "IGNORED.TEST", KDCs: []string{"127.0.0.1"}, Clock: clk}, creds)
	if c.Realm() != "TEST.GOKRB5" || c.Principal() != "testuser1@TEST.GOKRB5" {
		t.Errorf("client = %s in %s, want the ccache's", c.Principal(), c.Realm())
	}
	if err := c.Login(context.Background()); err != nil {
		t.Fatalf("Login before expiry: %v", err)
	}
	if as, _ := c.Stats(); as != 0 {
		t.Errorf("a ccache login made %d AS exchanges", as)
	}

	clk.Set(end.Add(time.Second))
	err = c.Login(context.Background())
	cerr, ok := errorsAs[*CredentialsError](err)
	if !ok || !errors.Is(err, ErrExpired) || !strings.Contains(cerr.Hint, "kinit") {
		t.Fatalf("Login after expiry = %v, want CredentialsError wrapping ErrExpired", err)
	}
}

func TestDefaultCCache(t *testing.T) {
	t.Setenv("KRB5CCNAME", "")
	if got, want := DefaultCCache(nil), fmt.Sprintf("FILE:/tmp/krb5cc_%d", os.Getuid()); got != want {
		t.Errorf("DefaultCCache(nil) = %q, want %q", got, want)
	}
	t.Setenv("KRB5CCNAME", "KEYRING:persistent:1000")
	if got := DefaultCCache(nil); got != "KEYRING:persistent:1000" {
		t.Errorf("DefaultCCache(nil) = %q", got)
	}
}

func TestFromKeytab(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(empty, nil, 0o600)
	os.WriteFile(garbage, []byte{5, 2, 0, 0, 0, 0x7f, 1}, 0o600)
	for _, tc := range []struct{ name, path, principal, want string }{
		{"missing", filepath.Join(dir, "nope"), "HUB02$", "no such file"},
		{"empty", empty, "HUB02$", "empty"},
		{"garbage", garbage, "HUB02$", "malformed keytab"},
		{"no principal", writeLabKeytab(t), "", "no principal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromKeytab(tc.path, tc.principal)
			if cerr, ok := errorsAs[*CredentialsError](err); !ok || !strings.Contains(err.Error(), tc.want) || cerr.Hint == "" {
				t.Fatalf("err = %v, want CredentialsError %q", err, tc.want)
			}
		})
	}
}

func TestNew_KeytabWithoutThePrincipalsKey(t *testing.T) {
	creds, err := FromKeytab(writeLabKeytab(t), "HUB03$@LAB.TEST")
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{KDCs: []string{"127.0.0.1"}}, creds)
	if cerr, ok := errorsAs[*CredentialsError](err); !ok || !strings.Contains(err.Error(), "HUB02$@LAB.TEST kvno 2") || cerr.Hint == "" {
		t.Fatalf("err = %v, want a CredentialsError listing the keytab", err)
	}
}

func TestNew_Errors(t *testing.T) {
	noRealm := ConfigFor("", "")
	for _, tc := range []struct {
		name  string
		cfg   Config
		creds Credentials
		check func(error) bool
	}{
		{"no credentials", Config{Realm: labRealm}, Credentials{}, isType[*CredentialsError]},
		{"empty password", Config{Realm: labRealm}, FromPassword("HUB02$", ""), isType[*CredentialsError]},
		{"bad principal", Config{Realm: labRealm}, FromPassword("HUB02$@", "x"), isType[*CredentialsError]},
		{"bad principal component", Config{Realm: labRealm}, FromPassword("SMTPSVC//x", "x"), isType[*CredentialsError]},
		{"no realm", Config{Krb5: noRealm}, FromPassword("HUB02$", "x"), isType[*ConfigError]},
		{"bad KDC", Config{Realm: labRealm, KDCs: []string{"tcp/"}}, FromPassword("HUB02$", "x"), isType[*ConfigError]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg, tc.creds)
			if c != nil || !tc.check(err) {
				t.Fatalf("New = %v, %v", c, err)
			}
		})
	}
}

func TestNew_RealmPrecedence(t *testing.T) {
	krb5 := ConfigFor("CONF.TEST", "127.0.0.1")
	for _, tc := range []struct {
		principal, realm, want string
	}{
		{"HUB02$@OWN.TEST", "FLAG.TEST", "OWN.TEST"},
		{"HUB02$", "FLAG.TEST", "FLAG.TEST"},
		{"HUB02$", "", "CONF.TEST"},
	} {
		c := newClient(t, Config{Krb5: krb5, Realm: tc.realm}, FromPassword(tc.principal, "x"))
		if c.Realm() != tc.want || c.Principal() != "HUB02$@"+tc.want {
			t.Errorf("principal %q, --realm %q: realm %s (%s), want %s", tc.principal, tc.realm, c.Realm(), c.Principal(), tc.want)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "s3cr3t-Passw0rd"
	creds := FromPassword("HUB02$@LAB.TEST", secret)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, creds); strings.Contains(s, secret) {
			t.Errorf("%s of Credentials shows the password: %s", f, s)
		}
	}
	st := &ServiceTicket{SPN: spnHub01}
	st.SessionKey.KeyValue = []byte(secret)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, st); strings.Contains(s, secret) || strings.Contains(s, fmt.Sprint([]byte(secret))) {
			t.Errorf("%s of ServiceTicket shows the session key: %s", f, s)
		}
	}
}

func TestParsePrincipal(t *testing.T) {
	for _, tc := range []struct {
		in, name, realm string
		ok              bool
	}{
		{"HUB02$@LAB.TEST", "HUB02$", "LAB.TEST", true},
		{"host/hub02.lab.test@LAB.TEST", "host/hub02.lab.test", "LAB.TEST", true},
		{"HUB02$", "HUB02$", "", true},
		{"a@b@LAB.TEST", "a@b", "LAB.TEST", true},
		{"", "", "", false},
		{"@LAB.TEST", "", "", false},
		{"x@", "", "", false},
		{"a//b", "", "", false},
	} {
		pn, realm, err := parsePrincipal(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (pn.PrincipalNameString() != tc.name || realm != tc.realm)) {
			t.Errorf("parsePrincipal(%q) = %q, %q, %v", tc.in, pn.PrincipalNameString(), realm, err)
		}
	}
}

// A password gives keys with the RFC salt and, for a computer account,
// Active Directory's salt <REALM>host<name>.<domain>, as AD derives them
// for HUB02$ in LAB.TEST.
func TestCredentials_KeysFromPassword(t *testing.T) {
	kt, err := FromPassword("HUB02$@LAB.TEST", "secret").Keys("LAB.TEST", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	et, err := crypto.GetEtype(etypeID.AES256_CTS_HMAC_SHA1_96)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, salt := range []string{"LAB.TESTHUB02$", "LAB.TESThosthub02.lab.test"} {
		k, err := et.StringToKey("secret", salt, et.GetDefaultStringToKeyParams())
		if err != nil {
			t.Fatal(err)
		}
		want[salt] = k
	}
	for salt, k := range want {
		found := false
		for _, e := range kt.Entries {
			if e.Key.KeyType == etypeID.AES256_CTS_HMAC_SHA1_96 && bytes.Equal(e.Key.KeyValue, k) && e.KVNO == 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("no aes256 key of version 0 for salt %q", salt)
		}
	}
	if _, err := (Credentials{}).Keys("LAB.TEST", time.Now()); !errors.Is(err, ErrNoKeys) {
		t.Errorf("no credentials: %v, want ErrNoKeys", err)
	}
}

package krbclient

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exauth/exauth/internal/enctype"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// credKind says where a Credentials' secret comes from.
type credKind int

const (
	credNone credKind = iota
	credKeytab
	credPassword
	credCCache
	credName // a principal's name alone: it can ask a KDC its time, nothing more
)

// Credentials are what the client logs in with: a keytab and a principal
// (kinit -k -t), a password and a principal (kinit), or a FILE ccache holding
// a ticket-granting ticket (what kinit left behind). Build one with
// FromKeytab, FromPassword or FromCCache. The zero value has no credentials.
//
// Credentials never print their secret: String and GoString show only where
// they come from.
type Credentials struct {
	kind      credKind
	source    string // for messages: "keytab /path", "ccache FILE:/path", "password"
	principal string // as given, e.g. "HUB02$@LAB.TEST"; for a ccache its default principal
	keytab    *keytab.Keytab
	password  string
	tgt       *tgt // ccache only
}

// FromKeytab reads a keytab for principal ("HUB02$@LAB.TEST", or without
// realm: the configured default realm applies). An unreadable or malformed
// keytab is a *CredentialsError.
func FromKeytab(path, principal string) (Credentials, error) {
	src := "keytab " + path
	kt, err := loadKeytab(path)
	if err != nil {
		hint := "give a keytab this user can read, or a ccache after kinit"
		if errors.Is(err, fs.ErrNotExist) {
			hint = "check the keytab's path; for a safe way to get a sending server's keys see README.md, \"Which identity to probe with\" (ktpass on a computer account resets its password)"
		}
		return Credentials{}, &CredentialsError{Source: src, Err: err, Hint: hint}
	}
	if principal == "" {
		return Credentials{}, &CredentialsError{Source: src, Err: errors.New("no principal given"), Hint: "give the principal (NAME@REALM) whose keys the keytab holds"}
	}
	return Credentials{kind: credKeytab, source: src, principal: principal, keytab: kt}, nil
}

// FromPrincipal is a principal's name without any secret. A Client on it
// can read its KDC's clock (SampleKDCClock) and nothing else: a Windows
// logon session's credentials stay inside SSPI, but its name is known.
func FromPrincipal(principal string) Credentials {
	return Credentials{kind: credName, source: "the name " + principal + " alone", principal: principal}
}

// ErrNoKeys says that credentials hold no long-term keys: a ccache holds
// tickets only.
var ErrNoKeys = errors.New("krbclient: the credentials hold no keys (a ccache holds tickets only)")

// Keys are the principal's own long-term keys, to accept a ticket sent to
// it (ExchangeAuth's reverse leg): a keytab's entries, or keys derived from
// a password with the RFC default salt and, for a computer account
// (NAME$), Active Directory's salt <REALM>host<name>.<domain>. Derived
// entries have key version 0, which an acceptor takes as any version.
func (c Credentials) Keys(realm string, now time.Time) (*keytab.Keytab, error) {
	switch c.kind {
	case credKeytab:
		return c.keytab, nil
	case credPassword:
		name, prealm, err := parsePrincipal(c.principal)
		if err != nil {
			return nil, err
		}
		if prealm != "" {
			realm = prealm
		}
		account := name.PrincipalNameString()
		kt := keytab.New()
		for _, id := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC} {
			// gokrb5 derives with the RFC default salt.
			if err := kt.AddEntry(account, realm, c.password, now, 0, id); err != nil {
				return nil, fmt.Errorf("krbclient: %s key from the password: %w", enctype.Name(id), err)
			}
			if !strings.HasSuffix(account, "$") || id == etypeID.RC4_HMAC {
				continue // RC4 has no salt
			}
			et, err := crypto.GetEtype(id)
			if err != nil {
				return nil, err
			}
			salt := enctype.Salt(realm, account, id)
			key, err := et.StringToKey(c.password, salt, et.GetDefaultStringToKeyParams())
			if err != nil {
				return nil, fmt.Errorf("krbclient: %s key from the password: %w", enctype.Name(id), err)
			}
			e := kt.Entries[len(kt.Entries)-1]
			e.Key = types.EncryptionKey{KeyType: id, KeyValue: key}
			kt.Entries = append(kt.Entries, e)
		}
		return kt, nil
	}
	return nil, ErrNoKeys
}

// FromKeytabValue is FromKeytab for a keytab already in memory (a fake
// server's own keys).
func FromKeytabValue(kt *keytab.Keytab, principal string) Credentials {
	return Credentials{kind: credKeytab, source: "keytab (in memory)", principal: principal, keytab: kt}
}

// loadKeytab is keytab.Load that turns a parser panic on a truncated file
// into an error.
func loadKeytab(path string) (kt *keytab.Keytab, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("keytab is empty")
	}
	defer func() {
		if r := recover(); r != nil {
			kt, err = nil, fmt.Errorf("malformed keytab: %v", r)
		}
	}()
	kt = keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("malformed keytab: %w", err)
	}
	return kt, nil
}

// FromPassword logs in as principal with a password. The password is kept
// only in memory and never printed.
func FromPassword(principal, password string) Credentials {
	return Credentials{kind: credPassword, source: "password for " + principal, principal: principal, password: password}
}

// ccacheHint is the fix for a ccache exauth cannot read: gokrb5 reads only
// the FILE type, and Linux distributions default to KEYRING: or KCM:.
const ccacheHint = "exauth reads FILE ccaches only: run `KRB5CCNAME=FILE:/tmp/krb5cc_exauth kinit NAME@REALM` and use that file, or a keytab"

// DefaultCCache is the ccache kinit would use: $KRB5CCNAME, else
// FILE:/tmp/krb5cc_<uid>. getenv reads the environment; nil means os.Getenv.
func DefaultCCache(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv("KRB5CCNAME"); v != "" {
		return v
	}
	if runtime.GOOS == "windows" {
		// Windows keeps tickets in LSA (klist), MIT Kerberos for Windows
		// in its API: ccache; neither is a file exauth can read.
		return ""
	}
	return "FILE:/tmp/krb5cc_" + strconv.Itoa(os.Getuid())
}

// FromCCache reads a FILE ccache ("FILE:/tmp/krb5cc_0" or a plain path) and
// takes its ticket-granting ticket. Other ccache types (KEYRING:, KCM:, API:,
// DIR:, MEMORY:), a missing or malformed file, or a ccache without a TGT are
// a *CredentialsError whose Hint names the fix. Whether the TGT has expired is
// checked at use, against Config.Clock.
func FromCCache(name string) (Credentials, error) {
	if name == "" {
		return Credentials{}, &CredentialsError{Source: "ccache", Err: errors.New("no ccache file: on Windows tickets live in the logon session (klist), which exauth does not read"),
			Hint: "give a keytab or a password file for the sending server's account, or a FILE ccache made with MIT kinit (KRB5CCNAME=FILE:...)"}
	}
	src := "ccache " + name
	path := name
	if typ, rest, ok := strings.Cut(name, ":"); ok && isCCacheType(typ) {
		if !strings.EqualFold(typ, "FILE") {
			return Credentials{}, &CredentialsError{Source: src, Err: fmt.Errorf("ccache type %s is not supported", strings.ToUpper(typ)), Hint: ccacheHint}
		}
		path = rest
	}
	if path == "" {
		return Credentials{}, &CredentialsError{Source: src, Err: errors.New("no file named"), Hint: ccacheHint}
	}
	cc, err := loadCCache(path)
	if err != nil {
		hint := "run kinit first, or give a ccache file or a keytab"
		if errors.Is(err, fs.ErrPermission) {
			hint = "the ccache belongs to another user; run kinit as this user"
		}
		return Credentials{}, &CredentialsError{Source: src, Err: err, Hint: hint}
	}
	realm := cc.GetClientRealm()
	cname := cc.GetClientPrincipalName()
	principal := cname.PrincipalNameString() + "@" + realm
	t, err := tgtFromCCache(cc, realm)
	if err != nil {
		return Credentials{}, &CredentialsError{Source: src, Err: err, Hint: "run kinit " + principal + " again"}
	}
	return Credentials{kind: credCCache, source: src, principal: principal, tgt: t}, nil
}

func isCCacheType(s string) bool {
	switch strings.ToUpper(s) {
	case "FILE", "KEYRING", "KCM", "API", "DIR", "MEMORY", "MSLSA":
		return true
	}
	return false
}

// loadCCache is credentials.LoadCCache that turns a parser panic on a
// truncated file into an error.
func loadCCache(path string) (cc *credentials.CCache, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCCache(b)
}

func parseCCache(b []byte) (cc *credentials.CCache, err error) {
	if len(b) < 2 {
		return nil, errors.New("malformed ccache: too short")
	}
	defer func() {
		if r := recover(); r != nil {
			cc, err = nil, fmt.Errorf("malformed ccache: %v", r)
		}
	}()
	cc = new(credentials.CCache)
	if err := cc.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("malformed ccache: %w", err)
	}
	return cc, nil
}

// tgtFromCCache finds krbtgt/REALM@REALM among a ccache's credentials.
func tgtFromCCache(cc *credentials.CCache, realm string) (*tgt, error) {
	want := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}}
	for _, e := range cc.GetEntries() {
		if e.Server.Realm != realm || !e.Server.PrincipalName.Equal(want) {
			continue
		}
		var tkt messages.Ticket
		if err := tkt.Unmarshal(e.Ticket); err != nil {
			return nil, fmt.Errorf("ticket-granting ticket in the ccache is malformed: %w", err)
		}
		return &tgt{
			ticket:    tkt,
			key:       e.Key,
			cname:     cc.GetClientPrincipalName(),
			realm:     realm,
			authTime:  e.AuthTime,
			endTime:   e.EndTime,
			fromCache: true,
		}, nil
	}
	return nil, fmt.Errorf("no ticket-granting ticket (krbtgt/%s@%s) in the ccache", realm, realm)
}

// String says where the credentials come from, never the secret.
func (c Credentials) String() string {
	switch c.kind {
	case credKeytab:
		return c.source + " (" + c.principal + ")"
	case credPassword, credCCache, credName:
		return c.source
	}
	return "no credentials"
}

// GoString is String, so that %#v does not print the password either.
func (c Credentials) GoString() string { return "krbclient.Credentials{" + c.String() + "}" }

// Principal is the client principal as given (keytab, password) or as the
// ccache names it.
func (c Credentials) Principal() string { return c.principal }

// parsePrincipal splits "a/b@REALM" into a name and a realm ("" when absent).
func parsePrincipal(s string) (types.PrincipalName, string, error) {
	name, realm := s, ""
	if i := strings.LastIndex(s, "@"); i >= 0 {
		name, realm = s[:i], s[i+1:]
		if realm == "" {
			return types.PrincipalName{}, "", fmt.Errorf("principal %q has an empty realm", s)
		}
	}
	if name == "" || slices.Contains(strings.Split(name, "/"), "") {
		return types.PrincipalName{}, "", fmt.Errorf("malformed principal %q", s)
	}
	return types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, name), realm, nil
}

// keytabETypes lists, in the order of want, the etypes for which kt holds a
// key of cname@realm.
func keytabETypes(kt *keytab.Keytab, cname types.PrincipalName, realm string, want []int32) []int32 {
	var out []int32
	for _, et := range want {
		if _, _, err := kt.GetEncryptionKey(cname, realm, 0, et); err == nil {
			out = append(out, et)
		}
	}
	return out
}

// keytabSummary lists a keytab's principals for error messages (names,
// kvnos and etypes; never keys).
func keytabSummary(kt *keytab.Keytab) string {
	var parts []string
	seen := map[string]bool{}
	for _, e := range kt.Entries {
		s := fmt.Sprintf("%s@%s kvno %d %s", strings.Join(e.Principal.Components, "/"), e.Principal.Realm, e.KVNO, enctype.Name(e.Key.KeyType))
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "the keytab is empty"
	}
	return "the keytab holds " + strings.Join(parts, ", ")
}

// tgt is a ticket-granting ticket and what goes with it.
type tgt struct {
	ticket    messages.Ticket
	key       types.EncryptionKey
	cname     types.PrincipalName
	realm     string
	authTime  time.Time
	endTime   time.Time
	fromCache bool
}

func (t *tgt) String() string {
	return fmt.Sprintf("TGT %s@%s until %s", t.cname.PrincipalNameString(), t.realm, t.endTime.Format(time.RFC3339))
}

package fakekdc

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/krbkey"
)

// dirAccount is an Account with its keys derived: the directory object the
// KDC looks principals up in.
type dirAccount struct {
	name   string              // as configured, e.g. "HUB01$"
	pname  types.PrincipalName // name as a principal (NT-PRINCIPAL)
	kvno   int                 // current key version
	etypes []int32             // key types, in the configured order
	// ticketETypes are the types the KDC encrypts this account's service
	// tickets in (msDS-SupportedEncryptionTypes): etypes, or RC4 alone for
	// an account without the attribute.
	ticketETypes []int32
	spns         []string // as configured, deduplicated
	// keys[kvno][etype] is the long-term key, which keeps its derived keys
	// (krbkey). Only keys[kvno] of the current kvno ever encrypts a ticket;
	// older versions exist for Keytab.
	keys map[int]map[int32]*krbkey.Key
	// replyETypeInfo2 holds, by etype, the PA-ETYPE-INFO2 of an AS-REP
	// whose reply key is of that etype: it names only the account's salt,
	// so it is encoded at the first AS-REP that needs it (not when the
	// directory is built: most accounts of a lab never log on).
	replyETypeInfo2 sync.Map // int32 -> []byte
}

// replyInfo returns the PA-ETYPE-INFO2 of an AS-REP sealed in the
// account's key of an etype.
func (a *dirAccount) replyInfo(realm string, etype int32) ([]byte, error) {
	if b, ok := a.replyETypeInfo2.Load(etype); ok {
		return b.([]byte), nil
	}
	b, err := asn1.Marshal(types.ETypeInfo2{{EType: etype, Salt: a.salt(realm, etype)}})
	if err != nil {
		return nil, err
	}
	a.replyETypeInfo2.Store(etype, b)
	return b, nil
}

// key returns the account's current key of an encryption type.
func (a *dirAccount) key(etype int32) (*krbkey.Key, bool) {
	k, ok := a.keys[a.kvno][etype]
	return k, ok
}

// salt is the string-to-key salt of the account's keys, as Active
// Directory has it: <REALM>host<name>.<domain> for a computer account
// (HUB01$), realm followed by the name for others, none for RC4.
func (a *dirAccount) salt(realm string, etype int32) string {
	return enctype.Salt(realm, a.name, etype)
}

// accountDirectory is the KDC's view of Active Directory: accounts by name, and
// SPN owners by SPN. Matching is case-insensitive, as AD's is for
// sAMAccountName and servicePrincipalName.
type accountDirectory struct {
	realm    string
	accounts []*dirAccount
	byName   map[string]*dirAccount   // strings.ToLower(name)
	bySPN    map[string][]*dirAccount // strings.ToLower(spn) -> owners, in config order
}

// newDirectory validates the accounts, adds krbtgt when absent and
// derives every key, so that answering a request never runs string-to-key.
func newDirectory(realm string, accounts []Account) (*accountDirectory, error) {
	d := &accountDirectory{
		realm:  realm,
		byName: make(map[string]*dirAccount),
		bySPN:  make(map[string][]*dirAccount),
	}
	tgs := "krbtgt/" + realm
	hasKrbtgt := false
	for _, acc := range accounts {
		if strings.EqualFold(acc.Name, "krbtgt") {
			hasKrbtgt = true
			// The realm's TGS principal is krbtgt's by definition.
			acc.SPNs = append(slices.Clone(acc.SPNs), tgs)
		}
		if err := d.add(acc); err != nil {
			return nil, err
		}
	}
	if !hasKrbtgt {
		// krbtgt has random keys of every type a client may ask for, so
		// the TGT never limits the etypes of an exchange; service accounts do.
		err := d.add(Account{
			Name:   "krbtgt",
			ETypes: []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC},
			SPNs:   []string{tgs},
		})
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// add validates one account, derives its keys and indexes it.
func (d *accountDirectory) add(acc Account) error {
	if acc.Name == "" {
		return errors.New("fakekdc: KDC account with an empty Name")
	}
	if strings.ContainsAny(acc.Name, " \t\r\n@") {
		return fmt.Errorf("fakekdc: KDC account %q: Name contains a space or '@'", acc.Name)
	}
	if _, dup := d.byName[strings.ToLower(acc.Name)]; dup {
		return fmt.Errorf("fakekdc: KDC account %q listed twice (account names are unique in a domain; to replay a duplicate SPN list the SPN on two accounts)", acc.Name)
	}
	kvno := acc.KVNO
	if kvno == 0 {
		kvno = 1
	}
	if kvno < 0 || kvno > math.MaxUint32>>1 {
		return fmt.Errorf("fakekdc: KDC account %q: KVNO %d out of range", acc.Name, acc.KVNO)
	}
	if kvno-len(acc.PreviousPasswords) < 1 {
		return fmt.Errorf("fakekdc: KDC account %q: %d previous passwords need KVNO > %d, have %d",
			acc.Name, len(acc.PreviousPasswords), len(acc.PreviousPasswords), kvno)
	}
	etypes := acc.ETypes
	switch {
	case etypes == nil && acc.ETypesUnset:
		// AD derives every type from the password whatever the attribute.
		etypes = []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC}
	case etypes == nil:
		etypes = defaultETypes()
	}
	if acc.ETypesUnset && !slices.Contains(etypes, etypeID.RC4_HMAC) {
		return fmt.Errorf("fakekdc: KDC account %q: ETypesUnset needs an RC4 key (list rc4-hmac in ETypes, or leave ETypes nil)", acc.Name)
	}
	if len(etypes) == 0 {
		return fmt.Errorf("fakekdc: KDC account %q: ETypes is empty (use nil for AES)", acc.Name)
	}
	for i, e := range etypes {
		if !enctype.Known(e) {
			return fmt.Errorf("fakekdc: KDC account %q: unsupported encryption type %d", acc.Name, e)
		}
		if slices.Contains(etypes[:i], e) {
			return fmt.Errorf("fakekdc: KDC account %q: encryption type %d listed twice", acc.Name, e)
		}
	}
	a := &dirAccount{
		name:         acc.Name,
		pname:        types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, acc.Name),
		kvno:         kvno,
		etypes:       slices.Clone(etypes),
		ticketETypes: slices.Clone(etypes),
		keys:         make(map[int]map[int32]*krbkey.Key),
	}
	if acc.ETypesUnset {
		a.ticketETypes = []int32{etypeID.RC4_HMAC}
	}
	passwords := append([]string{acc.Password}, acc.PreviousPasswords...)
	for i, pw := range passwords {
		byType := make(map[int32]*krbkey.Key, len(etypes))
		for _, e := range etypes {
			key, err := accountKey(pw, a.salt(d.realm, e), e)
			if err != nil {
				return fmt.Errorf("fakekdc: KDC account %q: %s key: %w", acc.Name, enctype.Name(e), err)
			}
			if byType[e], err = krbkey.New(key); err != nil {
				return fmt.Errorf("fakekdc: KDC account %q: %s key: %w", acc.Name, enctype.Name(e), err)
			}
		}
		a.keys[kvno-i] = byType
	}
	for _, spn := range acc.SPNs {
		svc, host, ok := strings.Cut(spn, "/")
		if !ok || svc == "" || host == "" || strings.ContainsAny(spn, " \t\r\n@") {
			return fmt.Errorf("fakekdc: KDC account %q: SPN %q is not service/host", acc.Name, spn)
		}
		if slices.ContainsFunc(a.spns, func(s string) bool { return strings.EqualFold(s, spn) }) {
			continue
		}
		a.spns = append(a.spns, spn)
		low := strings.ToLower(spn)
		d.bySPN[low] = append(d.bySPN[low], a)
	}
	d.accounts = append(d.accounts, a)
	d.byName[strings.ToLower(acc.Name)] = a
	return nil
}

// accountKey derives a key from a password, or — for an empty password —
// makes a random one. Random keys are what an AD computer account
// effectively has (a password of 120 random characters nobody types), and
// they skip PBKDF2's 4096 rounds, so a test suite can start scenarios by the
// dozen; such an account can log in from a keytab only.
func accountKey(password, salt string, etype int32) (types.EncryptionKey, error) {
	et, err := crypto.GetEtype(etype)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	if password != "" {
		key, err := et.StringToKey(password, salt, et.GetDefaultStringToKeyParams())
		return types.EncryptionKey{KeyType: etype, KeyValue: key}, err
	}
	b := make([]byte, et.GetKeyByteSize())
	if _, err := rand.Read(b); err != nil {
		return types.EncryptionKey{}, err
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: b}, nil
}

// trimRealm drops an "@REALM" suffix naming this realm.
func (d *accountDirectory) trimRealm(name string) string {
	if i := strings.LastIndexByte(name, '@'); i >= 0 && strings.EqualFold(name[i+1:], d.realm) {
		return name[:i]
	}
	return name
}

// client finds the account a client principal names: its sAMAccountName,
// optionally as an enterprise name "HUB02$@LAB.TEST" (RFC 6806).
func (d *accountDirectory) client(name string) *dirAccount {
	return d.byName[strings.ToLower(d.trimRealm(name))]
}

// owners returns every account a service principal name resolves to: the
// owners of the SPN, or else the account of that name (AD accepts a
// sAMAccountName as a service name too). More than one owner is a
// duplicate SPN.
func (d *accountDirectory) owners(name string) []*dirAccount {
	name = strings.ToLower(d.trimRealm(name))
	if o := d.bySPN[name]; len(o) > 0 {
		return o
	}
	if a := d.byName[name]; a != nil {
		return []*dirAccount{a}
	}
	return nil
}

// keytab exports the keys of one account version; see KDC.Keytab.
func (d *accountDirectory) keytab(ref string, kvno int, now time.Time) (*keytab.Keytab, error) {
	a := d.byName[strings.ToLower(d.trimRealm(ref))]
	if a == nil {
		switch o := d.owners(ref); len(o) {
		case 0:
			return nil, fmt.Errorf("fakekdc: KDC has no account or SPN %q", ref)
		case 1:
			a = o[0]
		default:
			names := make([]string, len(o))
			for i, acc := range o {
				names[i] = acc.name
			}
			return nil, fmt.Errorf("fakekdc: SPN %q is owned by %d accounts (%s); ask for the keytab by account name",
				ref, len(o), strings.Join(names, ", "))
		}
	}
	if kvno == 0 {
		kvno = a.kvno
	}
	keys, ok := a.keys[kvno]
	if !ok {
		return nil, fmt.Errorf("fakekdc: KDC account %q has no key version %d (current %d, %d previous)",
			a.name, kvno, a.kvno, len(a.keys)-1)
	}
	// gokrb5's keytab.AddEntry derives a key from a password and the
	// entry's own principal, but in AD an SPN is an alias whose key is its
	// account's key. So one entry made by AddEntry (RC4: cheap, no PBKDF2)
	// serves as a template, and every real entry is a copy carrying the
	// account's key.
	kt := keytab.New()
	if err := kt.AddEntry(a.name, d.realm, "template", now, 0, etypeID.RC4_HMAC); err != nil {
		return nil, fmt.Errorf("fakekdc: keytab entry: %w", err)
	}
	template := kt.Entries[0]
	kt.Entries = kt.Entries[:0]
	for _, p := range append([]string{a.name}, a.spns...) {
		pn := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, p)
		for _, e := range a.etypes {
			entry := template
			entry.Principal.Components = pn.NameString
			entry.Principal.NumComponents = int16(len(pn.NameString))
			entry.Principal.NameType = pn.NameType
			entry.Timestamp = now
			entry.KVNO = uint32(kvno)
			entry.KVNO8 = uint8(kvno) // RFC-less keytab format: the 32-bit field wins when set
			entry.Key = keys[e].EncryptionKey
			kt.Entries = append(kt.Entries, entry)
		}
	}
	return kt, nil
}

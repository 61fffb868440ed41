package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/exauth/exauth/internal/enctype"
)

// Account is what the directory says about one security principal (a
// computer, user or managed service account) that holds SPNs.
type Account struct {
	DN             string   `json:"dn"`
	SAMAccountName string   `json:"sam_account_name"`
	DNSHostName    string   `json:"dns_host_name,omitempty"`
	SPNs           []string `json:"spns"`
	// KeyVersion is msDS-KeyVersionNumber: the kvno of the account's
	// current keys, which service tickets carry. It changes with every
	// password change; a keytab or a server holding an older kvno cannot
	// decrypt new tickets. Nil when the server did not return it.
	KeyVersion *int `json:"key_version"`
	// SupportedEncryptionTypes is msDS-SupportedEncryptionTypes; nil when
	// unset, and then AD issues RC4 service tickets for the account.
	SupportedEncryptionTypes *uint32 `json:"supported_encryption_types"`
	// Disabled is userAccountControl's ACCOUNTDISABLE bit (0x2): the KDC
	// issues no tickets for a disabled account.
	Disabled bool     `json:"disabled"`
	MemberOf []string `json:"member_of,omitempty"`
}

// EncryptionTypeNames names the account's supported encryption types,
// nil when the attribute is unset.
func (a Account) EncryptionTypeNames() []string {
	if a.SupportedEncryptionTypes == nil {
		return nil
	}
	return EncTypeNames(*a.SupportedEncryptionTypes)
}

// Duplicate is one SPN that more than one account holds: the KDC then
// cannot tell whose key to encrypt the ticket in and refuses
// (KDC_ERR_PRINCIPAL_NOT_UNIQUE) or, on older DCs, picks one.
type Duplicate struct {
	SPN      string    `json:"spn"`
	Accounts []Account `json:"accounts"`
}

// DefaultClasses are the SPN service classes Exchange transport depends
// on: SMTPSVC (X-EXPS), SMTP (AUTH GSSAPI) and HTTP (Exchange's web
// services and its Kerberos-authenticated HTTP traffic).
// A function, not a variable, so no caller can change it for others.
func DefaultClasses() []string { return []string{"SMTPSVC", "SMTP", "HTTP"} }

// accountAttrs are the attributes read for every Account.
// msDS-KeyVersionNumber is constructed: it is returned only when asked.
var accountAttrs = []string{
	"sAMAccountName", "dNSHostName", "servicePrincipalName", "msDS-KeyVersionNumber",
	"msDS-SupportedEncryptionTypes", "userAccountControl", "memberOf",
}

// uacAccountDisable is userAccountControl's ACCOUNTDISABLE flag.
const uacAccountDisable = 0x2

// parseEntry turns a search entry into an Account; an attribute that does
// not parse is an error rather than a silent zero.
func parseEntry(e *ldap.Entry) (Account, error) {
	a := Account{
		DN:             e.DN,
		SAMAccountName: e.GetAttributeValue("sAMAccountName"),
		DNSHostName:    e.GetAttributeValue("dNSHostName"),
		SPNs:           e.GetAttributeValues("servicePrincipalName"),
	}
	if m := e.GetAttributeValues("memberOf"); len(m) > 0 {
		a.MemberOf = m
	}
	if a.SPNs == nil {
		a.SPNs = []string{}
	}
	var err error
	if a.KeyVersion, err = parseKVNO(e.GetAttributeValue("msDS-KeyVersionNumber")); err != nil {
		return a, fmt.Errorf("directory: %s: %w", e.DN, err)
	}
	if a.SupportedEncryptionTypes, err = parseEncTypes(e.GetAttributeValue("msDS-SupportedEncryptionTypes")); err != nil {
		return a, fmt.Errorf("directory: %s: %w", e.DN, err)
	}
	if a.Disabled, err = parseDisabled(e.GetAttributeValue("userAccountControl")); err != nil {
		return a, fmt.Errorf("directory: %s: %w", e.DN, err)
	}
	return a, nil
}

// parseKVNO reads msDS-KeyVersionNumber; "" (not returned) is nil.
func parseKVNO(s string) (*int, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("msDS-KeyVersionNumber %q is not a key version", s)
	}
	v := int(n)
	return &v, nil
}

// parseEncTypes reads msDS-SupportedEncryptionTypes, an LDAP Integer (a
// signed 32-bit value: a mask with bit 31 set reads as negative); "" is
// unset.
func parseEncTypes(s string) (*uint32, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < -1<<31 || n > 1<<32-1 {
		return nil, fmt.Errorf("msDS-SupportedEncryptionTypes %q is not a 32-bit mask", s)
	}
	v := uint32(n)
	return &v, nil
}

// parseDisabled reads userAccountControl's ACCOUNTDISABLE bit; an account
// without the attribute is not known to be disabled.
func parseDisabled(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < -1<<31 || n > 1<<32-1 {
		return false, fmt.Errorf("userAccountControl %q is not a 32-bit flag set", s)
	}
	return uint32(n)&uacAccountDisable != 0, nil
}

// EncTypeNames names each bit of an msDS-SupportedEncryptionTypes mask;
// unknown bits appear as hexadecimal ("0x100").
func EncTypeNames(mask uint32) []string { return enctype.SupportedNames(mask) }

// SPNClass is the service class of an SPN: "SMTPSVC" in
// SMTPSVC/hub01.contoso.com; "" when there is no "/".
func SPNClass(spn string) string {
	class, _, ok := strings.Cut(spn, "/")
	if !ok {
		return ""
	}
	return class
}

// checkSPN refuses what cannot be an SPN before it goes into a filter.
func checkSPN(spn string) error {
	class, host, ok := strings.Cut(spn, "/")
	if !ok || class == "" || host == "" {
		return fmt.Errorf("%q is not an SPN: want CLASS/HOST[:PORT][/NAME], e.g. SMTPSVC/hub01.contoso.com", spn)
	}
	if strings.ContainsFunc(spn, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%q is not an SPN: it contains control characters", spn)
	}
	return nil
}

// checkClass refuses a service class that would change the filter's
// meaning beyond escaping ("" would match every SPN, "/" nests).
func checkClass(class string) error {
	if class == "" || strings.ContainsAny(class, "/*") || strings.ContainsFunc(class, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%q is not an SPN service class (want e.g. SMTPSVC)", class)
	}
	return nil
}

// holderFilter matches the objects holding spn. AD compares
// servicePrincipalName case-insensitively, so the filter needs no case
// variants. User input is escaped (RFC 4515) so a "*" or ")" in it is a
// character, not filter syntax.
func holderFilter(spn string) string {
	return "(servicePrincipalName=" + ldap.EscapeFilter(spn) + ")"
}

// classFilter matches every object with an SPN of one of classes.
func classFilter(classes []string) string {
	var b strings.Builder
	if len(classes) > 1 {
		b.WriteString("(|")
	}
	for _, c := range classes {
		b.WriteString("(servicePrincipalName=" + ldap.EscapeFilter(c) + "/*)")
	}
	if len(classes) > 1 {
		b.WriteString(")")
	}
	return b.String()
}

// pageSize is below AD's default MaxPageSize (1000).
const pageSize = 500

// search runs a paged subtree search from the base DN. Each page is one
// request bounded by the step timeout.
func (c *Conn) search(ctx context.Context, filter string) ([]Account, error) {
	req := ldap.NewSearchRequest(c.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
		int(c.timeout/time.Second), false, filter, accountAttrs, nil)
	var res *ldap.SearchResult
	err := c.do(ctx, func() (err error) {
		res, err = c.l.SearchWithPaging(req, pageSize)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory: search %s under %s: %w", filter, c.baseDN, err)
	}
	out := make([]Account, 0, len(res.Entries))
	for _, e := range res.Entries {
		a, err := parseEntry(e)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	sortAccounts(out)
	return out, nil
}

func sortAccounts(as []Account) {
	slices.SortFunc(as, func(a, b Account) int { return cmp.Compare(strings.ToLower(a.DN), strings.ToLower(b.DN)) })
}

// SPNHolders is setspn -Q: every object whose servicePrincipalName is spn
// (compared case-insensitively, as AD does), sorted by DN. Exactly one
// holder is healthy; none means the KDC answers KDC_ERR_S_PRINCIPAL_UNKNOWN,
// more than one KDC_ERR_PRINCIPAL_NOT_UNIQUE.
//
// Only exact matches are reported. AD also resolves some classes through
// the sPNMappings attribute of CN=Directory Service,CN=Windows
// NT,CN=Services in the configuration partition (HOST/<name> stands for
// the classes listed there); an account holding only HOST/hub01 is thus
// found by the KDC for a mapped class although SPNHolders reports none.
// Look up "HOST/<name>" too when that matters.
func (c *Conn) SPNHolders(ctx context.Context, spn string) ([]Account, error) {
	if err := checkSPN(spn); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return c.search(ctx, holderFilter(spn))
}

// Duplicates is setspn -X restricted to service classes (nil or empty:
// DefaultClasses): every SPN of those classes held by more than one
// account, with the accounts. One paged search reads every holder.
func (c *Conn) Duplicates(ctx context.Context, classes []string) ([]Duplicate, error) {
	if len(classes) == 0 {
		classes = DefaultClasses()
	}
	for _, cl := range classes {
		if err := checkClass(cl); err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
	}
	accounts, err := c.search(ctx, classFilter(classes))
	if err != nil {
		return nil, err
	}
	return FindDuplicates(accounts, classes), nil
}

// FindDuplicates returns the SPNs of classes (nil or empty:
// DefaultClasses) that more than one account holds. SPNs and classes
// compare case-insensitively, as AD's uniqueness check does; an account
// listed twice (by DN) counts once. The result is sorted by SPN, each
// duplicate's accounts by DN, and names each SPN as its first holder (by
// DN) spells it.
func FindDuplicates(accounts []Account, classes []string) []Duplicate {
	if len(classes) == 0 {
		classes = DefaultClasses()
	}
	wanted := map[string]bool{}
	for _, c := range classes {
		wanted[strings.ToLower(c)] = true
	}
	type holders struct {
		accounts []Account
		spelling map[string]string // lower-case DN → the SPN as it spells it
	}
	bySPN := map[string]*holders{}
	for _, a := range accounts {
		for _, spn := range a.SPNs {
			if !wanted[strings.ToLower(SPNClass(spn))] {
				continue
			}
			key := strings.ToLower(spn)
			h := bySPN[key]
			if h == nil {
				h = &holders{spelling: map[string]string{}}
				bySPN[key] = h
			}
			dn := strings.ToLower(a.DN)
			if _, dup := h.spelling[dn]; dup {
				continue
			}
			h.spelling[dn] = spn
			h.accounts = append(h.accounts, a)
		}
	}
	out := []Duplicate{}
	for _, h := range bySPN {
		if len(h.accounts) > 1 {
			sortAccounts(h.accounts)
			spn := h.spelling[strings.ToLower(h.accounts[0].DN)]
			out = append(out, Duplicate{SPN: spn, Accounts: h.accounts})
		}
	}
	slices.SortFunc(out, func(a, b Duplicate) int { return cmp.Compare(strings.ToLower(a.SPN), strings.ToLower(b.SPN)) })
	return out
}

// Account reads one account by sAMAccountName ("HUB01$" for a computer).
// No such account is ErrNoSuchAccount (wrapped).
func (c *Conn) Account(ctx context.Context, sAMAccountName string) (*Account, error) {
	if sAMAccountName == "" || strings.ContainsFunc(sAMAccountName, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, fmt.Errorf("directory: %q is not an account name", sAMAccountName)
	}
	as, err := c.search(ctx, "(sAMAccountName="+ldap.EscapeFilter(sAMAccountName)+")")
	if err != nil {
		return nil, err
	}
	switch len(as) {
	case 0:
		return nil, fmt.Errorf("directory: %s under %s: %w", sAMAccountName, c.baseDN, ErrNoSuchAccount)
	case 1:
		return &as[0], nil
	}
	// sAMAccountName is unique in a domain; two hits mean the base DN
	// spans more than one (a global catalog), which this package does not
	// pretend to resolve.
	return nil, errors.New("directory: " + strconv.Itoa(len(as)) + " accounts named " + sAMAccountName + " under " + c.baseDN)
}

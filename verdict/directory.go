package verdict

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exauth/exauth/internal/enctype"
)

// DirectoryObservation is what Active Directory holds about the accounts
// involved, read over LDAP. It is the evidence two of KB 979174's causes
// need and the KDC's answers cannot give: a Windows KDC answers a missing
// and a duplicated SPN alike, and issues tickets with the key version its
// own replica has.
type DirectoryObservation struct {
	// Server is the directory server that answered (an LDAP URL).
	Server string `json:"server"`
	// Err says why the directory could not be read; nothing else is set.
	// A directory that cannot be read changes no verdict.
	Err string `json:"error,omitempty"`
	// SPN is the service principal name looked up.
	SPN string `json:"spn"`
	// Holders are every account whose servicePrincipalName holds SPN.
	Holders []DirectoryAccount `json:"holders"`
	// Sender is the probing identity's own account, when found.
	Sender *DirectoryAccount `json:"sender"`
	// KeyVersions are the holder's msDS-KeyVersionNumber as each domain
	// controller has it (read only when exactly one account holds SPN).
	KeyVersions []DCKeyVersion `json:"key_versions"`
}

// DirectoryAccount is one account as the directory has it.
type DirectoryAccount struct {
	DN          string `json:"dn"`
	Name        string `json:"name"`          // sAMAccountName, e.g. HUB01$
	DNSHostName string `json:"dns_host_name"` // dNSHostName, computer accounts only
	// KeyVersion is msDS-KeyVersionNumber on the server that answered.
	KeyVersion *int `json:"key_version"`
	// ETypes is msDS-SupportedEncryptionTypes; nil when unset, which makes
	// a Windows KDC issue RC4 service tickets for the account.
	ETypes   *uint32 `json:"supported_etypes"`
	Disabled bool    `json:"disabled"` // userAccountControl ACCOUNTDISABLE
	// ExchangeServer reports direct membership of the "Exchange Servers"
	// group (memberOf), whose members may submit as a server; nil when not
	// looked up.
	ExchangeServer *bool `json:"exchange_server"`
}

// String names the account for evidence: "HUB01$ (CN=HUB01,CN=Computers,...)".
func (a DirectoryAccount) String() string {
	if a.DN == "" {
		return a.Name
	}
	return a.Name + " (" + a.DN + ")"
}

// DCKeyVersion is one domain controller's view of an account's key version.
type DCKeyVersion struct {
	DC         string `json:"dc"`
	KeyVersion *int   `json:"key_version"`
	Err        string `json:"error,omitempty"` // the DC could not be read
}

// ETypeNames names the encryption types of a msDS-SupportedEncryptionTypes
// value, "unset" for nil: the bits of MS-KILE 2.2.7.
func ETypeNames(v *uint32) string {
	if v == nil {
		return "unset (RC4 service tickets)"
	}
	names := enctype.SupportedNames(*v)
	if len(names) == 0 {
		return fmt.Sprintf("%d (no ticket type)", *v)
	}
	return fmt.Sprintf("%d (%s)", *v, strings.Join(names, ", "))
}

// directory is the directory evidence about spn, nil when the directory
// was not read, could not be read, or was asked about another SPN.
func (j *judgement) directory(spn string) *DirectoryObservation {
	d := j.o.Directory
	if d == nil || d.Err != "" || spn == "" || !strings.EqualFold(d.SPN, spn) {
		return nil
	}
	return d
}

// spnFromDirectory separates what a Windows KDC's
// KDC_ERR_S_PRINCIPAL_UNKNOWN leaves open: no account holds the SPN, or
// more than one does. One holder means the KDC that answered has not got
// the directory's state (replication), which stays spn-unknown.
func (j *judgement) spnFromDirectory(spn string) (Verdict, string, bool) {
	d := j.directory(spn)
	if d == nil {
		return "", "", false
	}
	switch len(d.Holders) {
	case 0:
		j.add("the directory (%s) has no account holding %s", d.Server, spn)
		j.remediation = append(j.remediation,
			fmt.Sprintf("Register the SPN on the receiving server's own computer account: `setspn -S %s <SERVER>` (and SMTPSVC/<short name>), then let it replicate (`repadmin /syncall /AdeP`).", spn))
		j.ownRemediation = true
		return VerdictSPNMissing, fmt.Sprintf("no account holds %s (the KDC answered KDC_ERR_S_PRINCIPAL_UNKNOWN and the directory %s has no holder)", spn, d.Server), true
	case 1:
		h := d.Holders[0]
		if j.disabledHolder(spn) != nil {
			j.remediation = append(j.remediation, fmt.Sprintf("Enable %s (`Enable-ADAccount`), or move %s to the account of the server that answers for it (`setspn -S`).", h.Name, spn))
			j.ownRemediation = true
			return VerdictSPNUnknown, fmt.Sprintf("the KDC did not know %s, and the directory's only holder of it, %s, is disabled", spn, h.Name), true
		}
		j.add("the directory (%s) has %s on %s, yet the KDC did not know it: the KDC's domain controller has not got the change yet, or it serves another domain", d.Server, spn, h)
		j.remediation = append(j.remediation, "Force replication to every domain controller (`repadmin /syncall /AdeP`) and compare `setspn -Q "+spn+"` against each DC (`repadmin /showobjmeta <DC> \""+h.DN+"\"`).")
		return VerdictSPNUnknown, fmt.Sprintf("the KDC does not know %s although the directory %s has it on %s: most likely not replicated to the KDC's domain controller yet (or that KDC serves another domain)", spn, d.Server, h.Name), true
	default:
		names := holderNames(d.Holders)
		for _, h := range d.Holders {
			j.add("the directory (%s) has %s on %s", d.Server, spn, h)
		}
		j.remediation = append(j.remediation,
			fmt.Sprintf("Keep %s on the receiving server's own computer account only: remove it from the others with `setspn -D %s <ACCOUNT>` (accounts: %s), then replicate and purge the sending server's tickets (`klist -li 0x3e4 purge`).", spn, spn, names))
		j.ownRemediation = true
		return VerdictSPNDuplicate, fmt.Sprintf("%s is held by %d accounts (%s): a Windows KDC answers a duplicated SPN as unknown (KDC_ERR_S_PRINCIPAL_UNKNOWN, event 11)", spn, len(d.Holders), names), true
	}
}

// disabledHolder is the one account holding spn when the directory has it
// disabled, else nil.
func (j *judgement) disabledHolder(spn string) *DirectoryAccount {
	d := j.directory(spn)
	if d == nil || len(d.Holders) != 1 || !d.Holders[0].Disabled {
		return nil
	}
	j.add("the directory (%s) has %s on %s, which is disabled", d.Server, spn, d.Holders[0])
	return &d.Holders[0]
}

// etypeEvidence adds the encryption types the directory gives the SPN's
// holders, which decide the types the KDC may issue its tickets in.
func (j *judgement) etypeEvidence(spn string) {
	d := j.directory(spn)
	if d == nil {
		return
	}
	for _, h := range d.Holders {
		j.add("the directory (%s) has %s on %s; msDS-SupportedEncryptionTypes %s", d.Server, spn, h, ETypeNames(h.ETypes))
	}
}

// keyEvidence adds what the directory says about a ticket the receiving
// server could not decrypt, and returns a summary clause that replaces the
// generic list of causes when the directory singles one out ("" when it
// does not).
func (j *judgement) keyEvidence(spn string) string {
	d := j.directory(spn)
	if d == nil {
		return ""
	}
	k := j.o.Kerberos
	switch {
	case len(d.Holders) > 1:
		j.add("the directory (%s) has %s on %d accounts: %s", d.Server, spn, len(d.Holders), holderNames(d.Holders))
		return fmt.Sprintf("%s is on %d accounts (%s): the KDC encrypted with the key of one the server is not", spn, len(d.Holders), holderNames(d.Holders))
	case len(d.Holders) == 0:
		j.add("the directory (%s) has no account holding %s, although a KDC issued a ticket for it: that KDC's replica is behind", d.Server, spn)
		return ""
	}
	h := d.Holders[0]
	j.add("the directory (%s) has %s on %s; msDS-SupportedEncryptionTypes %s", d.Server, spn, h, ETypeNames(h.ETypes))
	if host := j.o.Target; h.DNSHostName != "" && host != "" && !ownAccount(h, host) && !strings.EqualFold(strings.TrimSuffix(h.Name, "$"), firstLabel(host)) {
		j.add("%s belongs to %s (dNSHostName %s), not to %s's computer account", spn, h.Name, h.DNSHostName, host)
		return fmt.Sprintf("%s is on %s (%s), another computer's account: the KDC encrypts with that account's key", spn, h.Name, h.DNSHostName)
	}
	var versions []string
	distinct := map[int]bool{}
	for _, v := range d.KeyVersions {
		switch {
		case v.Err != "":
			versions = append(versions, v.DC+": unreadable ("+v.Err+")")
		case v.KeyVersion != nil:
			versions = append(versions, fmt.Sprintf("%s: %d", v.DC, *v.KeyVersion))
			distinct[*v.KeyVersion] = true
		}
	}
	if len(versions) > 0 {
		j.add("msDS-KeyVersionNumber of %s by domain controller: %s", h.Name, strings.Join(versions, "; "))
	}
	if len(distinct) > 1 {
		return fmt.Sprintf("the key version of %s differs between domain controllers (%s): a password change not replicated", h.Name, strings.Join(versions, "; "))
	}
	if k != nil && k.KVNO != nil && h.KeyVersion != nil && *k.KVNO != *h.KeyVersion {
		j.add("the ticket has key version %d, the directory %d", *k.KVNO, *h.KeyVersion)
		return fmt.Sprintf("the KDC issued key version %d while the directory has %d for %s: a password change not replicated", *k.KVNO, *h.KeyVersion, h.Name)
	}
	if k != nil && k.EType == enctype.RC4HMAC && h.ETypes == nil {
		j.add("%s has no msDS-SupportedEncryptionTypes, so the KDC issues RC4 tickets for it", h.Name)
		// Both causes the ticket's type leaves open stay open.
		return ""
	}
	if ownAccount(h, j.o.Target) {
		kv := ""
		if h.KeyVersion != nil {
			kv = fmt.Sprintf(" (key version %d in the directory)", *h.KeyVersion)
		}
		et := "the ticket's type"
		if k != nil && k.EType != 0 {
			et = ETypeName(k.EType)
		}
		return fmt.Sprintf("%s is on %s, the server's own account%s: the server holds an older key of it (a keytab exported before a password change, or a change it has not taken), or no %s key", spn, h.Name, kv, et)
	}
	return ""
}

// ownAccount reports whether the account is the host's computer account:
// its dNSHostName is the host, or, without one, its name is the host's
// first label (HUB01$ for hub01.contoso.com).
func ownAccount(a DirectoryAccount, host string) bool {
	if host == "" {
		return false
	}
	if a.DNSHostName != "" {
		return strings.EqualFold(a.DNSHostName, host)
	}
	return strings.EqualFold(strings.TrimSuffix(a.Name, "$"), firstLabel(host))
}

// senderEvidence adds what the directory says about the probing identity.
func (j *judgement) senderEvidence() {
	d := j.o.Directory
	if d == nil || d.Err != "" || d.Sender == nil {
		return
	}
	s := d.Sender
	if s.Disabled {
		j.add("the directory (%s) has %s disabled", d.Server, s)
	}
	if s.ExchangeServer != nil && !*s.ExchangeServer {
		j.add("the directory (%s) does not list %s as a direct member of the Exchange Servers group (memberOf; nested membership is not followed): unless it is a member through another group, Exchange does not let it submit as a server", d.Server, s.Name)
	}
}

func holderNames(hs []DirectoryAccount) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Name
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func firstLabel(host string) string {
	l, _, _ := strings.Cut(host, ".")
	return l
}

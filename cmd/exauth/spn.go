package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/exauth/exauth/directory"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/netobs"
	"github.com/exauth/exauth/internal/safetext"
	"github.com/exauth/exauth/smtpprobe"
)

// spnFlags are `exauth spn`'s flags (docs/directory.md).
type spnFlags struct {
	credentialFlags
	ldapURL, base, bind, bindDN, bindPasswordFile, caFile string
	classes                                               string
	duplicates, insecure, jsonOut                         bool
	timeout                                               time.Duration
}

func (f *spnFlags) register(c *command) {
	f.credentialFlags.register(c)
	c.StringVar(&f.ldapURL, "ldap", "", "directory server `URL`, ldaps://HOST[:PORT] or ldap://HOST[:PORT] (default: ldaps:// to the realm's domain controllers found in DNS, _ldap._tcp.dc._msdcs.DOMAIN, else to the --kdc host)")
	c.StringVar(&f.base, "base", "", "search base `DN` (default the domain partition, the RootDSE's defaultNamingContext)")
	c.StringVar(&f.bind, "bind", "kerberos", "kerberos|simple: SASL GSSAPI with the Kerberos credentials above, or a simple bind (ldaps:// only)")
	c.StringVar(&f.bindDN, "bind-dn", "", "simple bind `DN` (or user@domain)")
	c.StringVar(&f.bindPasswordFile, "bind-password-file", "", "read the simple bind's password from `FILE`")
	c.StringVar(&f.caFile, "ca-file", "", "trust anchors for the ldaps:// server certificate (PEM `FILE`; default the system's)")
	c.BoolVar(&f.insecure, "insecure-skip-verify", false, "accept any ldaps:// server certificate (a lab DC's self-signed one); Kerberos still authenticates the server, and a simple bind is refused")
	c.BoolVar(&f.duplicates, "duplicates", false, "list every SPN of the --class classes held by more than one account, like setspn -X")
	c.StringVar(&f.classes, "class", strings.Join(directory.DefaultClasses(), ","), "SPN service `CLASSES` for --duplicates, comma-separated")
	f.timeout = 30 * time.Second
	c.Var(durationFlag{&f.timeout}, "timeout", "bound for the whole command, a `DURATION` such as 30s")
	c.BoolVar(&f.jsonOut, "json", false, "print the result as one JSON object")
}

func cmdSPN(ctx context.Context, args []string, e env) int {
	c := newCommand(e, "spn", "[flags] SPN | --duplicates [--class SMTPSVC,SMTP,HTTP]", `
Read Active Directory over LDAP for who holds a service principal name,
like setspn -Q: exit 0 when exactly one account holds SPN, 2 when none
or several do. With --duplicates, like setspn -X for the --class
classes: exit 0 when no SPN is held twice, 2 when some are. Exit 3 on
usage, bind or connection errors. The queries are read-only and need no
more than an authenticated domain account; by default exauth binds with
the same Kerberos credentials as exauth probe, over ldaps://. Without
--ldap, the realm (--realm, the principal's, or krb5.conf's) names the
DNS domain whose domain controllers are looked up, and the --kdc host is
tried after them.`, args)
	var f spnFlags
	f.register(c)
	pos, code, done := c.parse(args, 1)
	if done {
		return code
	}
	var spn string
	switch {
	case f.duplicates && len(pos) > 0:
		return c.fail(errors.New("give an SPN or --duplicates, not both"))
	case !f.duplicates && len(pos) != 1:
		return c.fail(errors.New("want one SPN, e.g. SMTPSVC/hub01.contoso.com (or --duplicates)"))
	case !f.duplicates:
		spn = pos[0]
	}
	var classes []string
	for _, cl := range strings.Split(f.classes, ",") {
		if cl = strings.TrimSpace(cl); cl != "" {
			classes = append(classes, cl)
		}
	}
	if f.duplicates && len(classes) == 0 {
		return c.fail(errors.New("--class: want at least one class, e.g. SMTPSVC"))
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cfg, urls, err := f.config(ctx, e)
	if err != nil {
		return c.fail(err)
	}
	conn, err := directory.DialFirst(ctx, cfg, urls)
	if err != nil {
		return c.fail(err)
	}
	defer conn.Close()
	if f.duplicates {
		dups, err := conn.Duplicates(ctx, classes)
		if err != nil {
			return c.fail(err)
		}
		return printDuplicates(e, f.jsonOut, conn, classes, dups)
	}
	holders, err := conn.SPNHolders(ctx, spn)
	if err != nil {
		return c.fail(err)
	}
	return printHolders(e, f.jsonOut, conn, spn, holders)
}

// config turns the flags into a directory.Config and the server URLs to
// try in order. Kerberos credentials go through the probe's own path
// (kerberos.Credentials), so both commands read the same flags,
// files and environment the same way.
func (f spnFlags) config(ctx context.Context, e env) (directory.Config, []string, error) {
	cfg := directory.Config{BaseDN: f.base, Timeout: f.timeout, InsecureSkipVerify: f.insecure}
	if f.caFile != "" {
		pool, err := netobs.LoadCAFile(f.caFile)
		if err != nil {
			return cfg, nil, fmt.Errorf("--ca-file: %w", err)
		}
		cfg.RootCAs = pool
	}
	switch f.bind {
	case "kerberos":
		if f.bindDN != "" || f.bindPasswordFile != "" {
			return cfg, nil, errors.New("--bind-dn and --bind-password-file are for --bind simple")
		}
		// The same credentials as probe's, the Windows logon session
		// (SSPI) included: the bind is SASL GSSAPI (RFC 4752) on them.
		side, err := f.credentialFlags.kerberos(e)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Bind = directory.Bind{Method: directory.BindKerberos, Kerberos: smtpprobe.DirectoryKerberos(side)}
	case "simple":
		if f.bindDN == "" || f.bindPasswordFile == "" {
			return cfg, nil, errors.New("--bind simple needs --bind-dn and --bind-password-file")
		}
		if f.insecure {
			return cfg, nil, errors.New("--insecure-skip-verify with --bind simple would send the password to any server that answers: use --ca-file")
		}
		pw, err := safetext.ReadPasswordFile(f.bindPasswordFile)
		if err != nil {
			return cfg, nil, fmt.Errorf("--bind-password-file: %w", err)
		}
		cfg.Bind = directory.Bind{Method: directory.BindSimple, DN: f.bindDN, Password: pw}
	default:
		return cfg, nil, fmt.Errorf("--bind %q: want kerberos or simple", f.bind)
	}
	if f.ldapURL != "" {
		return cfg, []string{f.ldapURL}, nil
	}
	urls, err := f.discover(ctx, e)
	return cfg, urls, err
}

// discover finds the directory servers when --ldap is not given: the
// realm's domain controllers in DNS, else the --kdc host (on AD every KDC
// is a DC). ldaps://, because DCs that require LDAP signing refuse a
// GSSAPI bind without a security layer on ldap://.
func (f spnFlags) discover(ctx context.Context, e env) ([]string, error) {
	realm := f.realm
	if realm == "" {
		if _, r, ok := strings.Cut(f.princ, "@"); ok {
			realm = r
		}
	}
	if src, err := f.source(e); realm == "" && err == nil && src == credSSPI {
		// The logon session's domain, as Windows sets it for a domain
		// user (not for SYSTEM: give --ldap there).
		realm = e.getenv("USERDNSDOMAIN")
	}
	if realm == "" {
		path := f.krb5Conf
		if path == "" {
			path = krbclient.DefaultKrb5Conf(e.getenv)
		}
		if k, err := krbclient.LoadKrb5Conf(path); err == nil {
			realm = k.LibDefaults.DefaultRealm
		}
	}
	if realm == "" && f.kdc == "" {
		return nil, errors.New("no directory server: give --ldap URL, or --realm or --kdc to find one")
	}
	urls, err := directory.Servers(ctx, nil, realm, f.kdc)
	if err != nil {
		return nil, fmt.Errorf("%w: give --ldap URL", err)
	}
	return urls, nil
}

// spnHolderStatus names what the holders mean for the KDC.
func spnHolderStatus(n int) (status string, code int) {
	switch n {
	case 0:
		return "missing", 2
	case 1:
		return "ok", 0
	}
	return "duplicated", 2
}

// spnResult is `exauth spn SPN --json`.
type spnResult struct {
	Command  string              `json:"command"`
	Server   string              `json:"server"`
	BaseDN   string              `json:"base_dn"`
	SPN      string              `json:"spn"`
	Status   string              `json:"status"`
	Holders  []directory.Account `json:"holders"`
	ExitCode int                 `json:"exit_code"`
}

// duplicatesResult is `exauth spn --duplicates --json`.
type duplicatesResult struct {
	Command    string                `json:"command"`
	Server     string                `json:"server"`
	BaseDN     string                `json:"base_dn"`
	Classes    []string              `json:"classes"`
	Duplicates []directory.Duplicate `json:"duplicates"`
	ExitCode   int                   `json:"exit_code"`
}

func printHolders(e env, jsonOut bool, conn *directory.Conn, spn string, holders []directory.Account) int {
	status, code := spnHolderStatus(len(holders))
	if holders == nil {
		holders = []directory.Account{}
	}
	if jsonOut {
		writeJSON(e.stdout, spnResult{Command: "spn", Server: conn.URL(), BaseDN: conn.BaseDN(), SPN: spn, Status: status, Holders: holders, ExitCode: code})
		return code
	}
	w := e.stdout
	fmt.Fprintf(w, "%s (%s, base %s)\n", safetext.Line(spn), conn.URL(), safetext.Line(conn.BaseDN()))
	switch status {
	case "missing":
		fmt.Fprintln(w, "  no account holds it: the KDC answers KDC_ERR_S_PRINCIPAL_UNKNOWN — add it to the receiving server's computer account (setspn -S SPN ACCOUNT)")
	case "duplicated":
		fmt.Fprintf(w, "  held by %d accounts: the KDC answers KDC_ERR_PRINCIPAL_NOT_UNIQUE (or picks one) — remove it from all but the server's own account (setspn -D SPN ACCOUNT)\n", len(holders))
	}
	for _, a := range holders {
		writeAccount(w, a)
	}
	return code
}

func printDuplicates(e env, jsonOut bool, conn *directory.Conn, classes []string, dups []directory.Duplicate) int {
	code := 0
	if len(dups) > 0 {
		code = 2
	}
	if jsonOut {
		writeJSON(e.stdout, duplicatesResult{Command: "spn", Server: conn.URL(), BaseDN: conn.BaseDN(), Classes: classes, Duplicates: dups, ExitCode: code})
		return code
	}
	w := e.stdout
	fmt.Fprintf(w, "duplicate SPNs of %s (%s, base %s): %d\n", strings.Join(classes, ", "), conn.URL(), safetext.Line(conn.BaseDN()), len(dups))
	for _, d := range dups {
		fmt.Fprintf(w, "%s held by %d accounts:\n", safetext.Line(d.SPN), len(d.Accounts))
		for _, a := range d.Accounts {
			writeAccount(w, a)
		}
	}
	return code
}

// writeAccount prints one holder: DN and sAMAccountName, then what the
// KDC makes of it.
func writeAccount(w io.Writer, a directory.Account) {
	fmt.Fprintf(w, "  %s (%s)\n", safetext.Line(a.DN), safetext.Line(a.SAMAccountName))
	var facts []string
	if a.KeyVersion != nil {
		facts = append(facts, fmt.Sprintf("kvno %d", *a.KeyVersion))
	}
	if a.SupportedEncryptionTypes == nil {
		facts = append(facts, "msDS-SupportedEncryptionTypes unset (RC4 service tickets)")
	} else {
		facts = append(facts, fmt.Sprintf("msDS-SupportedEncryptionTypes %d (%s)", *a.SupportedEncryptionTypes, strings.Join(a.EncryptionTypeNames(), ", ")))
	}
	if a.Disabled {
		facts = append(facts, "DISABLED")
	}
	fmt.Fprintf(w, "    %s\n", strings.Join(facts, ", "))
}

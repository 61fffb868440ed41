package smtpprobe

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/exauth/exauth/directory"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// DirectorySettings say where the probe reads Active Directory. The probe
// reads it only when the verdict needs what the KDC's answers cannot give
// (who holds an SPN, key versions by domain controller), binding with its
// own Kerberos credentials; a directory that cannot be read is evidence,
// never a failure of the probe.
type DirectorySettings struct {
	// URLs are the directory servers (ldaps:// or ldap://), tried in
	// order. Empty: the realm's domain controllers from DNS
	// (_ldap._tcp.dc._msdcs.<domain>), then the KDC that answered. With
	// more than one, the key version of the SPN's holder is compared
	// across all of them.
	URLs []string
	// BaseDN is the search base; "" is the domain partition.
	BaseDN string
	// RootCAs are the trust anchors for ldaps://; nil is the system roots.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any ldaps:// certificate (a lab DC's
	// self-signed one). The Kerberos bind still authenticates the server.
	InsecureSkipVerify bool
	// Resolver finds domain controllers; nil is net.DefaultResolver.
	Resolver *net.Resolver
	// EveryProbe reads the directory after a probe that passed too.
	// Monitoring wants to see a key version that differs between domain
	// controllers (a password change still replicating) before it breaks
	// the pair; one probe on demand reads only what a failure needs.
	EveryProbe bool
}

// exchangeServersCN is the group whose members Exchange lets submit as a
// server (ms-Exch-SMTP-Submit on the default receive connectors).
const exchangeServersCN = "cn=exchange servers,"

// needsDirectory reports whether the directory can change or sharpen
// the verdict of obs: the KDC refused a service ticket (a missing or
// duplicated SPN, etypes), or the receiving server refused a ticket it was
// given with 454 or 535 (whose key, which key version, which account). A
// refused login (AS exchange) is left alone: the bind would use the same
// refused credentials; so is a connector that never took a ticket (504,
// a TLS demand), which the directory cannot explain. everyProbe adds a
// ticket the server accepted (235): its key versions across domain
// controllers may still differ.
func needsDirectory(obs *verdict.Observation, everyProbe bool) bool {
	k := obs.Kerberos
	if obs.Interrupted != nil || k == nil || k.SPN == "" {
		return false
	}
	if e := k.KDCError; e != nil {
		return e.Exchange == verdict.ExchangeTGS
	}
	if !k.TicketObtained || obs.Auth == nil || obs.Auth.Final == nil {
		return false
	}
	switch obs.Auth.Final.Code {
	case 454, 535:
		return true
	case 235:
		return everyProbe
	}
	return false
}

// readDirectory records what the directory holds about the SPN the probe
// asked for, its holder's key version on each domain controller, and the
// probing identity's account.
func readDirectory(ctx context.Context, cfg Config, obs *verdict.Observation) *verdict.DirectoryObservation {
	k := obs.Kerberos
	s := cfg.Directory
	d := &verdict.DirectoryObservation{SPN: k.SPN}
	urls := s.URLs
	if len(urls) == 0 {
		var err error
		if urls, err = directory.Servers(ctx, s.Resolver, k.Realm, k.KDC); err != nil {
			d.Err = err.Error()
			return d
		}
	}
	dcfg := directory.Config{
		BaseDN: s.BaseDN, RootCAs: s.RootCAs, InsecureSkipVerify: s.InsecureSkipVerify,
		Timeout: cfg.StepTimeout, Bind: directory.Bind{Method: directory.BindKerberos, Kerberos: DirectoryKerberos(cfg.Kerberos)},
	}
	conn, err := directory.DialFirst(ctx, dcfg, urls)
	if err != nil {
		d.Server, d.Err = urls[0], err.Error()
		return d
	}
	defer conn.Close()
	d.Server = conn.URL()
	holders, err := conn.SPNHolders(ctx, k.SPN)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	d.Holders = make([]verdict.DirectoryAccount, 0, len(holders))
	for _, h := range holders {
		d.Holders = append(d.Holders, directoryAccount(h))
	}
	if name, _, _ := strings.Cut(k.Client, "@"); name != "" {
		if a, err := conn.Account(ctx, name); err == nil {
			da := directoryAccount(*a)
			member := false
			for _, g := range a.MemberOf {
				member = member || strings.HasPrefix(strings.ToLower(g), exchangeServersCN)
			}
			da.ExchangeServer = &member
			d.Sender = &da
		}
	}
	if len(holders) == 1 && len(urls) > 1 {
		d.KeyVersions = keyVersions(ctx, dcfg, urls, conn, holders[0])
	}
	return d
}

// keyVersions reads the holder's msDS-KeyVersionNumber from every domain
// controller: a password change that has not replicated shows as DCs that
// disagree.
func keyVersions(ctx context.Context, dcfg directory.Config, urls []string, first *directory.Conn, holder directory.Account) []verdict.DCKeyVersion {
	var out []verdict.DCKeyVersion
	for _, u := range urls {
		v := verdict.DCKeyVersion{DC: urlHost(u)}
		if u == first.URL() {
			v.KeyVersion = holder.KeyVersion
			out = append(out, v)
			continue
		}
		dcfg.URL = u
		conn, err := directory.Dial(ctx, dcfg)
		if err != nil {
			v.Err = err.Error()
			out = append(out, v)
			continue
		}
		a, err := conn.Account(ctx, holder.SAMAccountName)
		conn.Close()
		if err != nil {
			v.Err = err.Error()
		} else {
			v.KeyVersion = a.KeyVersion
		}
		out = append(out, v)
	}
	return out
}

// DirectoryKerberos binds to the directory with the probe's Kerberos side:
// the same credentials, KDCs and tickets, and its RFC 4752 client.
func DirectoryKerberos(k kerberos.Side) directory.Kerberos {
	return directory.KerberosFunc(func(ctx context.Context, spn string) (sasl.Client, error) {
		var obs verdict.KerberosObservation
		m, err := k.GSSAPIClient(ctx, spn, kerberos.UseAUTH, &obs)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, errors.New("no GSSAPI client")
		}
		return m, nil
	})
}

func directoryAccount(a directory.Account) verdict.DirectoryAccount {
	return verdict.DirectoryAccount{
		DN: a.DN, Name: a.SAMAccountName, DNSHostName: a.DNSHostName,
		KeyVersion: a.KeyVersion, ETypes: a.SupportedEncryptionTypes, Disabled: a.Disabled,
	}
}

func urlHost(u string) string {
	if p, err := url.Parse(u); err == nil && p.Hostname() != "" {
		return p.Hostname()
	}
	return u
}

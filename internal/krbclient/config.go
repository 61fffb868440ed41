package krbclient

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/exauth/exauth/internal/clock"
)

// Defaults for Config.
const (
	DefaultStepTimeout = 5 * time.Second
	// DefaultUDPTimeout is how long one UDP attempt waits before the next KDC
	// or TCP is tried. MIT krb5 waits one second before moving on, so that a
	// firewall that drops 88/UDP costs one second, not a whole step.
	DefaultUDPTimeout = time.Second
	// MaxReplySize caps a KDC's TCP reply. RFC 4120 7.2.2 allows 2^31 bytes;
	// real replies (a TGS-REP with a large Windows PAC) stay well below 64 KiB.
	MaxReplySize = 1 << 20
	kdcPort      = "88"
)

// Config is where and how the client talks to the KDCs.
type Config struct {
	// Krb5 is the Kerberos configuration (LoadKrb5Conf or ConfigFor). Nil
	// means gokrb5's defaults, with KDCs found through DNS SRV records.
	Krb5 *config.Config
	// Realm overrides krb5.conf's default_realm. A principal that names its
	// own realm (HUB02$@LAB.TEST) keeps it.
	Realm string
	// KDCs overrides the realm's kdc lines: host[:port], port 88 by default;
	// "tcp/" or "udp/" in front restricts an address to one transport, as in
	// MIT krb5.conf.
	KDCs []string
	// Clock is this host's clock (nil: the system clock). It stamps
	// requests (PA-ENC-TIMESTAMP, authenticators, till) and observations.
	Clock clock.Clock
	// StepTimeout bounds each network exchange with one KDC (default 5s);
	// the context's deadline bounds it too.
	StepTimeout time.Duration
	// UDPTimeout bounds one UDP attempt (default 1s, never above
	// StepTimeout) before falling back to the next KDC or to TCP.
	UDPTimeout time.Duration
	// RenewBefore makes a long-lived Client (an exporter's, shared by every
	// scrape) fetch a new ticket this long before the one it holds expires,
	// at most a quarter of the ticket's lifetime ahead: a ticket handed out
	// a minute before its end may expire while the receiving server checks
	// it. 0 uses a ticket until its end.
	RenewBefore time.Duration
	// RetryAfter forgets a failed exchange after this long, so that a
	// long-lived Client notices when the KDC or the directory is fixed.
	// 0 remembers failures for the Client's lifetime: a plan run is one
	// observation session and must not ask a KDC that is down 500 times.
	RetryAfter time.Duration
	// KeepExchanges bounds the exchange log (Exchanges): it keeps the last
	// N exchanges at least and 2N at most, so that a long-lived Client's
	// memory does not grow with every renewal; 0 keeps them all.
	KeepExchanges int
}

// DefaultKrb5Conf is the krb5.conf MIT krb5 would read: the first file of
// $KRB5_CONFIG (a list, like $PATH), else /etc/krb5.conf. getenv reads the
// environment; nil means os.Getenv.
func DefaultKrb5Conf(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv("KRB5_CONFIG"); v != "" {
		first, _, _ := strings.Cut(v, string(filepath.ListSeparator))
		if first != "" {
			return first
		}
	}
	return platformKrb5Conf(runtime.GOOS, getenv, fileExists)
}

// platformKrb5Conf is where the platform's Kerberos keeps krb5.conf: on
// Windows, MIT Kerberos for Windows reads %ProgramData%\MIT\Kerberos5\krb5.ini
// and older installations C:\Windows\krb5.ini; elsewhere /etc/krb5.conf.
func platformKrb5Conf(goos string, getenv func(string) string, exists func(string) bool) string {
	if goos != "windows" {
		return "/etc/krb5.conf"
	}
	programData := getenv("ProgramData")
	if programData == "" {
		programData = `C:\ProgramData`
	}
	candidates := []string{programData + `\MIT\Kerberos5\krb5.ini`}
	if windir := getenv("windir"); windir != "" {
		candidates = append(candidates, windir+`\krb5.ini`)
	}
	candidates = append(candidates, `C:\Windows\krb5.ini`)
	for _, c := range candidates {
		if exists(c) {
			return c
		}
	}
	return candidates[0]
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// ConfigFor builds the configuration kinit would use with only a realm and a
// KDC (the --realm and --kdc flags): gokrb5's defaults, default_realm =
// realm, and kdc as the realm's only KDC (port 88 unless given). With kdc
// empty the KDCs are looked up in DNS (_kerberos._tcp.REALM), as MIT does by
// default.
func ConfigFor(realm, kdc string) *config.Config {
	c := config.New()
	c.LibDefaults.DefaultRealm = realm
	if kdc == "" {
		c.LibDefaults.DNSLookupKDC = true
		return c
	}
	c.Realms = append(c.Realms, config.Realm{Realm: realm, KDC: []string{kdc}})
	return c
}

// kdcAddr is one KDC address and the transport it is restricted to, if any.
type kdcAddr struct {
	addr string // host:port
	only string // "", TCP or UDP
}

// parseKDC reads a kdc line or --kdc value: [tcp/|udp/]host[:port][*].
func parseKDC(s string) (kdcAddr, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "*"))
	var k kdcAddr
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "tcp/"):
		k.only, s = TCP, s[4:]
	case strings.HasPrefix(lower, "udp/"):
		k.only, s = UDP, s[4:]
	}
	if s == "" {
		return k, errors.New("empty KDC address")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// host without port; a bare IPv6 address too.
		host, port = strings.Trim(s, "[]"), kdcPort
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return k, fmt.Errorf("bad KDC address %q", s)
		}
	}
	if host == "" {
		return k, fmt.Errorf("bad KDC address %q: no host", s)
	}
	if port == "" {
		port = kdcPort
	}
	k.addr = net.JoinHostPort(host, port)
	return k, nil
}

func parseKDCs(list []string) ([]kdcAddr, error) {
	var out []kdcAddr
	seen := map[kdcAddr]bool{}
	for _, s := range list {
		k, err := parseKDC(s)
		if err != nil {
			return nil, err
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// realmKDCs returns the realm's kdc lines in the order krb5.conf lists them.
// (gokrb5's Config.GetKDCs shuffles them; MIT tries them in order, and a
// diagnosis should be repeatable.)
func realmKDCs(c *config.Config, realm string) []string {
	for _, r := range c.Realms {
		if r.Realm == realm {
			return r.KDC
		}
	}
	return nil
}

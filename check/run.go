package check

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/sspicred"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// Options tune a run.
type Options struct {
	Concurrency int // targets probed at once; default 16
	// Progress is called after each target (from one goroutine at a time).
	Progress func(p Progress)
	Clock    clock.Clock
	Getenv   func(string) string // nil = os.Getenv
}

// Progress is the state of a run after a target finished.
type Progress struct {
	Done, Failed, Total int
	Last                *Result
}

// Result is one target's outcome.
type Result struct {
	Target     string           `json:"target"`
	Host       string           `json:"host,omitempty"`
	URL        string           `json:"url,omitempty"`
	Scenario   string           `json:"scenario,omitempty"`
	Expect     Verdicts         `json:"expect"`
	Verdict    verdict.Verdict  `json:"verdict"`
	Severity   verdict.Severity `json:"severity"`
	Met        bool             `json:"met"`
	Summary    string           `json:"summary"`
	Evidence   []string         `json:"evidence"`
	DurationMS float64          `json:"duration_ms"`
	Report     *verdict.Report  `json:"report,omitempty"`
}

// Run is a whole plan's outcome.
type Run struct {
	Plan       string        `json:"plan"`
	Started    time.Time     `json:"started"` // UTC
	DurationMS float64       `json:"duration_ms"`
	Results    []Result      `json:"results"`
	Met        int           `json:"targets_met"`
	Failed     int           `json:"targets_failed"`
	Kerberos   []KerberosUse `json:"kerberos_use"`
}

// KerberosUse counts the exchanges one set of credentials cost.
type KerberosUse struct {
	Principal string `json:"principal"`
	AS        int    `json:"as_exchanges"`
	TGS       int    `json:"tgs_exchanges"`
}

// AllMet reports whether every target reached an expected verdict.
func (r *Run) AllMet() bool { return r.Failed == 0 }

// Execute runs the plan. Credentials are shared: one Kerberos client per
// distinct set of credential settings, so a run logs in once per principal
// and asks for each SPN once, however many targets use them.
func Execute(ctx context.Context, p *Plan, opts Options) *Run {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	clk := clock.Or(opts.Clock)
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	run := &Run{Plan: p.source, Started: clk.Now().UTC(), Results: make([]Result, len(p.Targets)), Kerberos: []KerberosUse{}}
	creds := &credentialPool{getenv: getenv, clock: opts.Clock, byKey: map[kerberos.Credentials]*sharedKerberos{}}

	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	progress := Progress{Total: len(p.Targets)}
	began := time.Now()
	for i := range p.Targets {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			res := runTarget(ctx, p, &p.Targets[i], creds)
			mu.Lock()
			defer mu.Unlock()
			run.Results[i] = res
			progress.Done++
			if !res.Met {
				progress.Failed++
			}
			if opts.Progress != nil {
				progress.Last = &run.Results[i]
				opts.Progress(progress)
			}
		}(i)
	}
	wg.Wait()
	run.DurationMS = float64(time.Since(began).Microseconds()) / 1000
	for _, r := range run.Results {
		if r.Met {
			run.Met++
		} else {
			run.Failed++
		}
	}
	if uses := creds.uses(); uses != nil {
		run.Kerberos = uses
	}
	return run
}

func runTarget(ctx context.Context, p *Plan, t *Target, creds *credentialPool) (res Result) {
	res = Result{Target: t.Name, Host: t.Host, URL: t.URL, Scenario: t.Scenario, Expect: t.Expect}
	began := time.Now()
	defer func() { res.DurationMS = float64(time.Since(began).Microseconds()) / 1000 }()
	if t.URL != "" {
		cfg, err := creds.httpConfig(t, t.merged(p.Defaults))
		if err != nil {
			return failed(res, err)
		}
		return judged(res, httpprobe.Probe(ctx, cfg))
	}
	if t.Scenario != "" {
		sc, err := scenarios.Lookup(t.Scenario)
		if err != nil {
			return failed(res, err)
		}
		if len(res.Expect) == 0 {
			res.Expect = Verdicts{verdict.Verdict(sc.Expect)}
		}
		lab, err := scenarios.Run(sc, scenarios.Options{})
		if err != nil {
			return failed(res, err)
		}
		defer lab.Close()
		return judged(res, lab.RunProbe(ctx))
	}
	cfg, err := creds.config(t, t.merged(p.Defaults))
	if err != nil {
		return failed(res, err)
	}
	return judged(res, smtpprobe.Probe(ctx, cfg))
}

// judged records a target's report.
func judged(res Result, r *verdict.Report) Result {
	res.Verdict, res.Severity, res.Summary, res.Evidence, res.Report = r.Verdict, r.Severity, r.Summary, r.Evidence, r
	res.Met = res.Expect.Has(r.Verdict)
	return res
}

// Credentials are the credential settings as the probes take them.
func (s Settings) Credentials() kerberos.Credentials {
	return kerberos.Credentials{
		Krb5Conf: s.Krb5Conf, Realm: s.Realm, KDC: s.KDC, CCache: s.CCache,
		Keytab: s.Keytab, Principal: s.Principal, PasswordFile: s.PasswordFile,
	}
}

// httpConfig is a URL target's probe configuration, through the HTTP
// probe's one path (httpprobe.Settings), with the pool's shared
// credentials. The SMTP-only settings (mech, tls, ehlo, ldap) do not
// apply; HTTPS is always checked strictly.
func (c *credentialPool) httpConfig(t *Target, s Settings) (httpprobe.Config, error) {
	cfg, err := s.HTTP(t.URL, t.Connect).Config(nil, c.clock)
	if err != nil {
		return cfg, smtpprobe.SpellFields(err, KeyOf)
	}
	k, err := c.kerberos(s)
	if err != nil {
		return cfg, smtpprobe.SpellFields(err, KeyOf)
	}
	cfg.Kerberos = k
	return cfg, nil
}

// failed records a target that could not even be probed.
func failed(res Result, err error) Result {
	res.Verdict, res.Severity = verdict.VerdictUnknown, verdict.SeverityUnknown
	res.Summary = err.Error()
	res.Met = res.Expect.Has(verdict.VerdictUnknown)
	return res
}

type sharedKerberos struct {
	kerberos  kerberos.Side
	principal string
	err       error
}

// credentialPool hands every target with the same credential settings the
// same Kerberos client.
type credentialPool struct {
	getenv func(string) string
	clock  clock.Clock
	mu     sync.Mutex
	byKey  map[kerberos.Credentials]*sharedKerberos
	order  []kerberos.Credentials
	// logonSession is the Windows logon session's side (cred: sspi),
	// shared as a credentials key's is.
	logonSession *sharedKerberos
}

// config builds a target's probe configuration through the one path every
// front end uses (smtpprobe.Settings), with the pool's shared credentials.
func (c *credentialPool) config(t *Target, s Settings) (smtpprobe.Config, error) {
	ps := s.SMTP(t.Host, t.Connect, t.SPN)
	k, err := c.kerberos(s)
	if err != nil {
		return smtpprobe.Config{}, smtpprobe.SpellFields(err, KeyOf)
	}
	cfg, err := ps.Config(k, c.clock)
	return cfg, smtpprobe.SpellFields(err, KeyOf)
}

// SMTP is an SMTP probe of host (dialling connect when set; spn "" is the
// default) with these settings, for smtpprobe.Settings.Config: the one path
// from settings to a probe.
func (s Settings) SMTP(host, connect, spn string) smtpprobe.Settings {
	ps := smtpprobe.Settings{
		Host: host, Connect: connect, SPN: spn, EHLO: s.EHLO,
		Mech: s.Mech, TLS: s.TLS, CAFile: s.CAFile, Timeout: time.Duration(s.Timeout),
		Credentials: s.Credentials(), LDAP: s.LDAP,
	}
	if s.RequireTrustedCert != nil {
		ps.RequireTrustedCert = *s.RequireTrustedCert
	}
	if s.LDAPInsecureSkipVerify != nil {
		ps.LDAPInsecureSkipVerify = *s.LDAPInsecureSkipVerify
	}
	if s.LDAPEveryProbe != nil {
		ps.LDAPEveryProbe = *s.LDAPEveryProbe
	}
	return ps
}

// HTTP is an HTTP probe of url with these settings, for
// httpprobe.Settings.Config. The SMTP-only settings (mech, tls, ehlo,
// ldap) do not apply; HTTPS is always checked strictly.
func (s Settings) HTTP(url, connect string) httpprobe.Settings {
	return httpprobe.Settings{URL: url, Connect: connect, CAFile: s.CAFile, Timeout: time.Duration(s.Timeout)}
}

// KeyOf names the file key of each smtpprobe.Settings field, for
// smtpprobe.SpellFields.
var KeyOf = map[string]string{
	"LDAP": "ldap", "URL": "url",
	"Host": "host", "Connect": "connect", "SPN": "spn", "EHLO": "ehlo", "Mech": "mech", "TLS": "tls",
	"CAFile": "ca_file", "Timeout": "timeout", "StepTimeout": "timeout",
	"Krb5Conf": "krb5_conf", "Realm": "realm", "KDC": "kdc", "CCache": "ccache",
	"Keytab": "keytab", "Principal": "principal", "PasswordFile": "password_file",
}

// kerberos is the shared Kerberos side for the settings' credentials.
func (c *credentialPool) kerberos(s Settings) (kerberos.Side, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.Cred == CredSSPI {
		if c.logonSession == nil {
			c.logonSession = &sharedKerberos{principal: "(Windows logon session)"}
			c.logonSession.kerberos, c.logonSession.err = sspicred.LogonSession()
		}
		return c.logonSession.kerberos, c.logonSession.err
	}
	cs := s.Credentials()
	if sk, ok := c.byKey[cs]; ok {
		return sk.kerberos, sk.err
	}
	sk := &sharedKerberos{principal: cs.Principal}
	ks, err := cs.Settings(c.getenv, c.clock)
	if err != nil {
		sk.err = err
	} else {
		sk.kerberos = kerberos.New(ks)
	}
	c.byKey[cs] = sk
	c.order = append(c.order, cs)
	return sk.kerberos, sk.err
}

func (c *credentialPool) uses() []KerberosUse {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []KerberosUse
	shared := make([]*sharedKerberos, 0, len(c.order)+1)
	for _, key := range c.order {
		shared = append(shared, c.byKey[key])
	}
	if c.logonSession != nil {
		shared = append(shared, c.logonSession)
	}
	for _, sk := range shared {
		u := KerberosUse{Principal: sk.principal}
		// Windows counts the logon session's exchanges itself (klist).
		if st, ok := sk.kerberos.(interface{ Stats() (as, tgs int) }); ok {
			u.AS, u.TGS = st.Stats()
		}
		if u.Principal == "" {
			u.Principal = "(ccache)"
		}
		out = append(out, u)
	}
	return out
}

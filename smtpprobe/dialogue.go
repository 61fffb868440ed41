package smtpprobe

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/exauth/exauth/internal/exchangeauth"
	"github.com/exauth/exauth/internal/netobs"
	"github.com/exauth/exauth/internal/safetext"
	"github.com/exauth/exauth/internal/smtpreply"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// Observe runs the dialogue against cfg.Host and records what it saw. It
// never fails: every problem is part of the verdict.Observation.
func Observe(ctx context.Context, cfg Config) *verdict.Observation {
	cfg = cfg.withDefaults()
	host, addr, err := cfg.hostPort()
	obs := &verdict.Observation{
		Target:  host,
		Address: addr,
		Options: verdict.ObservedOptions{
			Mech: cfg.Mech, TLS: cfg.TLS, SPN: cfg.SPN, EHLOName: cfg.EHLOName,
			RequireTrustedCert: cfg.RequireTrustedCert, HasCredentials: cfg.Kerberos != nil,
			ShowSecrets: cfg.ShowSecrets, StepTimeout: cfg.StepTimeout,
		},
	}
	if err != nil {
		obs.Failure = &verdict.StepFailure{Step: "connect", Err: err, Kind: "local"}
		return obs
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	d := &dialogue{cfg: cfg, obs: obs, host: host, start: cfg.Clock.Now()}
	d.run(ctx, addr)
	if refusedExchangeAuth(obs) && ctx.Err() == nil {
		obs.FollowUp, obs.ReverseSPN = followUp(ctx, cfg, obs, host, addr)
	}
	if refusedTicket(obs) {
		kerberos.SampleClockIfHidden(ctx, cfg.Kerberos, obs.Kerberos)
	}
	if cfg.Directory != nil && cfg.Kerberos != nil && ctx.Err() == nil && needsDirectory(obs, cfg.Directory.EveryProbe) {
		obs.Directory = readDirectory(ctx, cfg, obs)
	}
	obs.Timings.Total = d.since()
	timedOutOnBudget := d.budgetBound && (obs.Failure != nil && obs.Failure.Kind == verdict.FailTimeout || obs.Connect != nil && obs.Connect.Kind == verdict.ConnectTimeout)
	if (ctx.Err() != nil || timedOutOnBudget) && unfinished(obs) {
		// The probe did not end by itself: the caller stopped it (Ctrl-C,
		// SIGTERM) or its own time budget ran out. Neither is the server's
		// doing, whatever the step that was cut short looks like.
		i := &verdict.Interruption{Step: cutShort(obs), Budget: cfg.Timeout}
		if errors.Is(parent.Err(), context.Canceled) {
			i.ByCaller = true
		}
		obs.Interrupted = i
	}
	return obs
}

// unfinished reports whether the dialogue stopped before it had an answer
// to judge: a failed step, or Kerberos cut off before a ticket.
func unfinished(o *verdict.Observation) bool {
	if o.Failure != nil || o.Connect != nil && o.Connect.Err != nil {
		return true
	}
	k := o.Kerberos
	return k != nil && k.Err != nil && !k.TicketObtained
}

// cutShort is the step that was running when the probe was stopped.
func cutShort(o *verdict.Observation) verdict.Step {
	switch {
	case o.Failure != nil:
		return o.Failure.Step
	case o.Kerberos != nil && o.Kerberos.Err != nil:
		return verdict.StepKerberos
	}
	return ""
}

// refusedExchangeAuth reports whether the receiver refused a valid
// ExchangeAuth token with a temporary failure: the one answer that hides
// which of its checks failed.
func refusedExchangeAuth(o *verdict.Observation) bool {
	a := o.Auth
	return a != nil && a.Mechanism == "EXCHANGEAUTH" && a.TokenSent && a.Final != nil && a.Final.Code == 454 &&
		o.Kerberos != nil && o.Kerberos.TicketObtained
}

// followUp tells apart what a refused ExchangeAuth cannot: a second
// session with X-EXPS GSSAPI shows whether the receiver can use this host's
// ticket at all (its AP-REP comes before it checks permissions), and a
// ticket request for this host's own SPN shows whether the receiver could
// get its reverse ticket. Both cost the receiver and the KDC one more
// exchange, and only after a failure.
func followUp(ctx context.Context, cfg Config, main *verdict.Observation, host, addr string) (*verdict.FollowUpObservation, *verdict.SPNCheck) {
	rs := &verdict.SPNCheck{SPN: "SMTPSVC/" + cfg.EHLOName}
	var kobs verdict.KerberosObservation
	if _, err := cfg.Kerberos.GSSAPIClient(ctx, rs.SPN, kerberos.UseExchangeAuth, &kobs); err != nil {
		rs.Err, rs.KDCError = err, kobs.KDCError
	}
	rs.TicketObtained = kobs.TicketObtained

	fu := &verdict.FollowUpObservation{}
	if e := main.EHLOTLS; e == nil || !e.Capabilities.Offers("X-EXPS", "GSSAPI") {
		return fu, rs
	}
	fu.Offered = true
	second := cfg
	second.Mech = verdict.MechGSSAPI
	second.SPN = main.Options.SPN
	o := &verdict.Observation{Target: host, Address: addr, Options: main.Options}
	d := &dialogue{cfg: second, obs: o, host: host, start: cfg.Clock.Now()}
	d.run(ctx, addr)
	switch {
	case o.Auth == nil:
		fu.Err = errors.New("the second session did not reach X-EXPS GSSAPI")
		if o.Failure != nil {
			fu.Err = fmt.Errorf("the second session ended at %s: %w", o.Failure.Step, o.Failure.Err)
		}
	default:
		fu.APRep, fu.Final, fu.Err = o.Auth.Mutual, o.Auth.Final, o.Auth.Err
	}
	return fu, rs
}

// dialogue is one probe's connection state. Each step is a method that does
// one exchange, records it, and reports whether the dialogue can go on.
type dialogue struct {
	ticket *prefetch // the X-EXPS ticket, fetched alongside the SMTP dialogue
	cfg    Config
	obs    *verdict.Observation
	host   string
	start  time.Time
	conn   net.Conn
	r      *smtpreply.Reader
	inTLS  bool
	tls    tls.ConnectionState // valid when inTLS
	// budgetBound is set while the step running is bounded by the probe's
	// whole time budget rather than by its own step bound: a timeout then
	// is the budget's, not the server's.
	budgetBound bool
	redact      bool // received authentication data is a secret
	// cert delivers the peer certificate's verification, made alongside
	// the EHLO that follows the TLS handshake.
	cert chan *verdict.CertObservation
}

func (d *dialogue) since() time.Duration { return d.cfg.Clock.Now().Sub(d.start) }

func (d *dialogue) run(ctx context.Context, addr string) {
	defer func() {
		if d.ticket != nil {
			// Unused if the dialogue ended before X-EXPS: stop it, and let
			// no goroutine outlive the probe.
			d.ticket.cancel()
			<-d.ticket.done
		}
	}()
	if !d.connect(ctx, addr) {
		return
	}
	// The TCP connection outlives the TLS layer put on it; its deadline
	// governs both. Capture it: d.conn is replaced after the upgrade.
	raw := d.conn
	defer raw.Close()
	// Cancelling ctx (the overall --timeout, Ctrl-C) interrupts any blocked read.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if !d.greet(ctx) {
		return
	}
	if !d.cfg.RequireTrustedCert {
		// Exchange's banner names the server as its EHLO answer will:
		// the ticket for that SPN is fetched while SMTP goes on.
		d.ticket = d.prefetchTicket(ctx, nil, bannerName(d.obs.Banner))
	}
	caps, ok := d.ehlo(ctx, false)
	if !ok {
		return
	}
	if verb := d.tlsVerb(caps); verb != "" {
		if !d.upgradeTLS(ctx, verb) {
			return
		}
		caps, ok = d.ehlo(ctx, true)
		d.awaitCert()
		if !ok {
			return
		}
		if d.cfg.RequireTrustedCert && d.obs.TLS.PeerCert != nil && !d.obs.TLS.PeerCert.Trusted {
			// A sender that insists on a trusted certificate stops here.
			d.quit(ctx)
			return
		}
	}
	if d.ticket == nil && d.cfg.RequireTrustedCert {
		d.ticket = d.prefetchTicket(ctx, caps, d.latestEHLO().Advertised())
	}
	if d.authenticate(ctx, caps) {
		d.quit(ctx)
	}
}

// prefetch is a Kerberos service ticket fetched concurrently with the rest
// of the SMTP dialogue: the SPN an Exchange sender uses (SMTPSVC/<host>) is
// known from the start, and on a real network the KDC and the hub are
// different hosts, so asking one only after the other adds latency. It
// starts once the TCP connection stands (a probe that cannot reach the
// server must not cost the domain controllers a logon, nor with a wrong key
// a failed one); with --require-trusted-cert, only once the certificate has
// passed. The result is used only if the dialogue reaches X-EXPS with that
// SPN.
type prefetch struct {
	cancel context.CancelFunc
	spn    string
	done   chan struct{}
	obs    *verdict.KerberosObservation
	client kerberos.Mechanism
	err    error
	took   time.Duration
}

// prefetchTicket starts fetching the X-EXPS ticket for SMTPSVC/<name>
// (name as the server gave it); caps, when known, must offer X-EXPS.
func (d *dialogue) prefetchTicket(ctx context.Context, caps smtpreply.Capabilities, name string) *prefetch {
	if d.cfg.Kerberos == nil || d.cfg.Mech == verdict.MechAUTH || caps != nil && !caps.Has("X-EXPS") {
		return nil
	}
	spn := d.cfg.SPN
	if spn == "" {
		if name == "" {
			return nil
		}
		spn = "SMTPSVC/" + name
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetch{cancel: cancel, spn: spn, done: make(chan struct{}), obs: &verdict.KerberosObservation{SPN: spn}}
	go func() {
		defer close(p.done)
		began := time.Now()
		p.client, p.err = d.cfg.Kerberos.GSSAPIClient(ctx, spn, kerberos.UseExchangeAuth, p.obs)
		p.took = time.Since(began)
	}()
	return p
}

// bannerName is the host name an Exchange banner starts with ("220
// hub01.contoso.com Microsoft ESMTP MAIL Service ready at ...").
func bannerName(b *verdict.BannerObservation) string {
	if b == nil {
		return ""
	}
	e := verdict.EHLOObservation{Reply: b.Reply}
	return e.Advertised()
}

// latestEHLO is the EHLO answer the authentication follows.
func (d *dialogue) latestEHLO() *verdict.EHLOObservation {
	if d.obs.EHLOTLS != nil {
		return d.obs.EHLOTLS
	}
	return d.obs.EHLO
}

// step sets the deadline for one network exchange: the step bound, never
// past the overall deadline.
func (d *dialogue) step(ctx context.Context) {
	if ctx.Err() != nil {
		d.conn.SetDeadline(time.Unix(1, 0)) // cancelled: do not undo AfterFunc
		return
	}
	deadline := time.Now().Add(d.cfg.StepTimeout)
	d.budgetBound = false
	if dl, ok := ctx.Deadline(); ok && !dl.After(deadline) {
		deadline, d.budgetBound = dl, true
	}
	d.conn.SetDeadline(deadline)
}

func (d *dialogue) record(dir, line string) {
	d.obs.Transcript = append(d.obs.Transcript, verdict.TranscriptLine{
		TMillis: float64(d.since().Microseconds()) / 1000, Dir: dir, Line: line, TLS: d.inTLS,
	})
}

func (d *dialogue) setConn(c net.Conn) {
	d.conn = c
	d.r = smtpreply.NewReader(bufio.NewReaderSize(c, 4096), smtpreply.Limits{})
	d.r.OnLine = func(line string) {
		if d.redact && !d.cfg.ShowSecrets {
			line = safetext.RedactReply(line)
		}
		d.record("<", line)
	}
}

// send writes one command line; secret lines are recorded as a placeholder.
func (d *dialogue) send(line string, secret bool) error {
	shown := line
	if secret && !d.cfg.ShowSecrets {
		shown = safetext.RedactCommand(line)
	}
	d.record(">", shown)
	_, err := io.WriteString(d.conn, line+"\r\n")
	return err
}

// fail ends the dialogue at step with err.
func (d *dialogue) fail(step verdict.Step, err error) bool {
	kind := classify(err)
	if d.redact && !d.cfg.ShowSecrets {
		// The error may quote the reply that carried a token.
		err = redactedError{kind: err, text: safetext.RedactTokens(err.Error())}
	}
	d.obs.Failure = &verdict.StepFailure{Step: step, Err: err, Kind: kind}
	return false
}

// redactedError is an error whose text had tokens removed; Unwrap keeps
// the original for callers in Go that branch on its type.
type redactedError struct {
	kind error
	text string
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.kind }

// classify names the kind of a step error, for verdict.Diagnose.
func classify(err error) verdict.FailureKind {
	var se *smtpreply.SyntaxError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return verdict.FailSyntax
	case errors.Is(err, smtpreply.ErrLineTooLong):
		return verdict.FailLineTooLong
	case errors.Is(err, smtpreply.ErrTooManyLines):
		return verdict.FailTooManyLines
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return verdict.FailTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return verdict.FailClosed
	case errors.As(err, new(*replyError)):
		return verdict.FailReply
	default:
		return verdict.FailIO
	}
}

// replyError is an unexpected reply code at a step.
type replyError struct {
	Want  string
	Reply smtpreply.Reply
}

func (e *replyError) Error() string {
	return fmt.Sprintf("expected %s, got %q", e.Want, e.Reply.String())
}

func (d *dialogue) connect(ctx context.Context, addr string) bool {
	began := time.Now()
	dctx, cancel := context.WithTimeout(ctx, d.cfg.StepTimeout)
	defer cancel()
	if dl, ok := ctx.Deadline(); ok && !dl.After(began.Add(d.cfg.StepTimeout)) {
		d.budgetBound = true
	}
	dial := d.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(dctx, "tcp", addr)
	d.obs.Timings.Connect = time.Since(began)
	if err != nil {
		d.obs.Connect = &verdict.ConnectObservation{Err: err, Kind: netobs.ConnectKind(err)}
		return d.fail(verdict.StepConnect, err)
	}
	d.obs.Connect = &verdict.ConnectObservation{}
	d.setConn(c)
	return true
}

// greet reads the banner and the server's clock written in it.
func (d *dialogue) greet(ctx context.Context) bool {
	d.step(ctx)
	reply, err := d.r.ReadReply()
	if err != nil {
		return d.fail(verdict.StepBanner, err)
	}
	b := &verdict.BannerObservation{Reply: reply, ReceivedAt: d.cfg.Clock.Now()}
	if t, ok := ParseBannerDate(reply.Text()); ok {
		b.Date = &t
	}
	d.obs.Banner = b
	if reply.Code != 220 {
		return d.fail(verdict.StepBanner, &replyError{Want: "220", Reply: reply})
	}
	return true
}

func (d *dialogue) ehlo(ctx context.Context, inTLS bool) (smtpreply.Capabilities, bool) {
	step := verdict.StepEHLO
	if inTLS {
		step = verdict.StepEHLOTLS
	}
	d.step(ctx)
	if err := d.send("EHLO "+d.cfg.EHLOName, false); err != nil {
		return nil, d.fail(step, err)
	}
	reply, err := d.r.ReadReply()
	if err != nil {
		return nil, d.fail(step, err)
	}
	e := &verdict.EHLOObservation{Reply: reply, Capabilities: smtpreply.ParseEHLO(reply)}
	if inTLS {
		d.obs.EHLOTLS = e
	} else {
		d.obs.EHLO = e
	}
	if reply.Code != 250 {
		return nil, d.fail(step, &replyError{Want: "250", Reply: reply})
	}
	return e.Capabilities, true
}

// tlsVerb picks the upgrade verb: X-ANONYMOUSTLS first, as Exchange's
// sending side does between servers of the same organisation.
func (d *dialogue) tlsVerb(caps smtpreply.Capabilities) string {
	switch d.cfg.TLS {
	case verdict.TLSNone:
		return ""
	case verdict.TLSAnonymous:
		return "X-ANONYMOUSTLS"
	case verdict.TLSStartTLS:
		return "STARTTLS"
	}
	switch {
	case caps.Has("X-ANONYMOUSTLS"):
		return "X-ANONYMOUSTLS"
	case caps.Has("STARTTLS"):
		return "STARTTLS"
	}
	return ""
}

func (d *dialogue) upgradeTLS(ctx context.Context, verb string) bool {
	began := time.Now()
	defer func() { d.obs.Timings.TLS = time.Since(began) }()
	mode := verdict.TLSStartTLS
	if verb == "X-ANONYMOUSTLS" {
		mode = verdict.TLSAnonymous
	}
	t := &verdict.TLSObservation{Mode: mode, Verb: verb}
	d.obs.TLS = t
	d.step(ctx)
	if err := d.send(verb, false); err != nil {
		return d.fail(verdict.StepTLS, err)
	}
	reply, err := d.r.ReadReply()
	if err != nil {
		return d.fail(verdict.StepTLS, err)
	}
	t.Reply = &reply
	if reply.Code != 220 {
		return d.fail(verdict.StepTLS, &replyError{Want: "220", Reply: reply})
	}
	if d.r.Buffered() > 0 {
		// Plaintext after the 220 would be read as if it came over TLS.
		return d.fail(verdict.StepTLS, errors.New("server sent data after its 220 reply to "+verb))
	}
	// Verification is done by hand after the handshake: X-ANONYMOUSTLS is
	// anonymous by design and Exchange's certificates are often
	// self-signed, so an untrusted certificate is evidence, not a failure.
	// Exchange negotiates TLS 1.0 to 1.2 with Schannel; inside
	// X-ANONYMOUSTLS the probe offers no more than 1.2, where ExchangeAuth's
	// EAP key is defined (docs/exchangeauth.md). No client certificate: a
	// receiver that cannot map one refuses the next EHLO.
	conf := &tls.Config{ServerName: d.host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10}
	if mode == verdict.TLSAnonymous {
		conf.MaxVersion = exchangeauth.MaxTLSVersion
	}
	tc := tls.Client(d.conn, conf)
	d.step(ctx)
	if err := tc.HandshakeContext(ctx); err != nil {
		t.Err = err
		return d.fail(verdict.StepTLS, err)
	}
	st := tc.ConnectionState()
	t.Version = tls.VersionName(st.Version)
	t.Cipher = tls.CipherSuiteName(st.CipherSuite)
	if len(st.PeerCertificates) > 0 {
		// The chain is verified while the next EHLO is in flight (an ECDSA
		// or RSA verification, a tenth of a millisecond): nothing reads the
		// answer before that EHLO's reply, and awaitCert records it then.
		chain := st.PeerCertificates
		d.cert = make(chan *verdict.CertObservation, 1)
		go func() { d.cert <- d.verifyCert(chain) }()
	}
	d.inTLS, d.tls = true, st
	d.setConn(tc)
	return true
}

// awaitCert records the verification upgradeTLS started.
func (d *dialogue) awaitCert() {
	if d.cert != nil {
		d.obs.TLS.PeerCert = <-d.cert
		d.cert = nil
	}
}

func (d *dialogue) verifyCert(chain []*x509.Certificate) *verdict.CertObservation {
	return netobs.VerifyCertificate(chain, d.host, d.cfg.RootCAs, d.cfg.Clock.Now())
}

// authChoice is how the dialogue authenticates, and why.
type authChoice struct {
	verb, mech string // "X-EXPS" EXCHANGEAUTH or GSSAPI, "AUTH" GSSAPI; "" when none
	why        string
}

// chooseAuth picks the mechanism as an Exchange 2007+ sender does, unless
// the configuration forces one: X-EXPS EXCHANGEAUTH when offered inside
// X-ANONYMOUSTLS, else X-EXPS GSSAPI, else AUTH GSSAPI. A forced mechanism
// is used only when offered: what else is offered is for verdict.Diagnose
// to read from the EHLO.
func (d *dialogue) chooseAuth(caps smtpreply.Capabilities) authChoice {
	anonymous := d.obs.TLS != nil && d.obs.TLS.Mode == verdict.TLSAnonymous && d.inTLS
	exchangeAuth := anonymous && caps.Offers("X-EXPS", "EXCHANGEAUTH")
	gssapi := caps.Offers("X-EXPS", "GSSAPI")
	auth := caps.Offers("AUTH", "GSSAPI")
	switch d.cfg.Mech.Canonical() {
	case verdict.MechExchangeAuth:
		if exchangeAuth {
			return authChoice{"X-EXPS", "EXCHANGEAUTH", "forced (the probe was told to use it)"}
		}
	case verdict.MechGSSAPI:
		if gssapi {
			return authChoice{"X-EXPS", "GSSAPI", "forced (the downgraded path); an Exchange 2007+ sender uses it only towards Exchange 2003 or with UseDowngradedExchangeServerAuth"}
		}
	case verdict.MechAUTH:
		if auth {
			return authChoice{"AUTH", "GSSAPI", "forced (AUTH GSSAPI, as non-Exchange MTAs offer it)"}
		}
	default:
		switch {
		case exchangeAuth:
			return authChoice{"X-EXPS", "EXCHANGEAUTH", "offered inside X-ANONYMOUSTLS: what an Exchange 2007+ sender uses"}
		case gssapi:
			why := "EXCHANGEAUTH is not offered"
			if !anonymous {
				why += " (it exists only inside X-ANONYMOUSTLS)"
			}
			return authChoice{"X-EXPS", "GSSAPI", why + ": an Exchange 2007+ sender would use X-EXPS GSSAPI only towards Exchange 2003 or with UseDowngradedExchangeServerAuth, and otherwise fail with 451 5.7.3 Cannot achieve Exchange Server authentication"}
		case auth:
			return authChoice{"AUTH", "GSSAPI", "X-EXPS offers no Kerberos: AUTH GSSAPI, which Exchange servers do not use between themselves"}
		}
	}
	return authChoice{}
}

// spnFor is the SPN of a mechanism, and where its host name came from:
// X-EXPS uses the name the receiver advertised in EHLO, as Exchange does;
// AUTH the dialled name, as SASL clients do.
func (d *dialogue) spnFor(verb string) (spn, from string) {
	switch {
	case d.cfg.SPN != "":
		return d.cfg.SPN, "given"
	case verb == "AUTH":
		return "SMTP/" + d.host, "dialled"
	}
	if name := d.latestEHLO().Advertised(); name != "" {
		return "SMTPSVC/" + name, "advertised"
	}
	return "SMTPSVC/" + d.host, "dialled"
}

// authenticate runs the chosen mechanism. It returns false when the
// connection is no longer usable.
func (d *dialogue) authenticate(ctx context.Context, caps smtpreply.Capabilities) bool {
	choice := d.chooseAuth(caps)
	if choice.verb == "" {
		// Nothing to authenticate with: verdict.Diagnose reads why from the EHLO.
		return true
	}
	a := &verdict.AuthObservation{Verb: choice.verb, Mechanism: choice.mech, Offered: caps.Mechanisms(choice.verb), Why: choice.why}
	d.obs.Auth = a
	spn, from := d.spnFor(choice.verb)
	a.SPNFrom = from
	d.obs.Options.SPN = spn
	if d.cfg.Kerberos == nil {
		d.obs.Kerberos = &verdict.KerberosObservation{SPN: spn, CredentialsProblem: "no Kerberos credentials were configured (no ccache, keytab or password)"}
		return true
	}
	use := kerberos.UseXEXPS
	switch {
	case choice.verb == "AUTH":
		use = kerberos.UseAUTH
	case choice.mech == "EXCHANGEAUTH":
		use = kerberos.UseExchangeAuth
	}
	d.obs.Kerberos = &verdict.KerberosObservation{SPN: spn}
	began := time.Now()
	if t := d.ticket; t != nil && t.spn == spn {
		<-t.done // fetched while the SMTP dialogue ran; the client caches the ticket
		began = began.Add(-t.took)
	}
	client, err := d.cfg.Kerberos.GSSAPIClient(ctx, spn, use, d.obs.Kerberos)
	d.obs.Timings.KDC = time.Since(began)
	if err != nil {
		d.obs.Kerberos.Err = err
		return true
	}
	began = time.Now()
	defer func() { d.obs.Timings.Auth = time.Since(began) }()
	if choice.mech == "EXCHANGEAUTH" {
		return d.exchangeAuth(ctx, a, client)
	}
	return d.gssapi(ctx, a, client)
}

// exchangeAuth runs "X-EXPS EXCHANGEAUTH SHA256 <blob>" and checks the
// receiver's reverse ticket in its "235 <blob>" when the credentials hold
// this host's keys.
func (d *dialogue) exchangeAuth(ctx context.Context, a *verdict.AuthObservation, client kerberos.Mechanism) bool {
	_, token, err := client.Start()
	if err != nil {
		a.Err = err
		return true
	}
	var cert *x509.Certificate
	if len(d.tls.PeerCertificates) > 0 {
		cert = d.tls.PeerCertificates[0]
	}
	pub, err := exchangeauth.PublicKey(cert)
	if err != nil {
		a.Err = err
		return true
	}
	eap, err := exchangeauth.EAPKey(d.tls)
	if err != nil {
		// Exchange's sender stops here too (event 2016, TLS1_0NotSupported).
		a.Err = err
		return true
	}
	clientKey := client.SessionKey()
	blob := exchangeauth.FormatBlob(token, exchangeauth.ClientHash(pub, clientKey, eap))
	d.step(ctx)
	d.redact = true
	defer func() { d.redact = false }()
	if err := d.send("X-EXPS EXCHANGEAUTH "+exchangeauth.Hash+" "+blob, true); err != nil {
		return d.fail(verdict.StepAuth, err)
	}
	a.TokenSent = true
	reply, err := d.r.ReadReply()
	if err != nil {
		return d.fail(verdict.StepAuth, err)
	}
	a.Final = &reply
	if reply.Code != 235 {
		return true
	}
	a.ServerData = reply.Text() != ""
	rev := &verdict.ReverseObservation{SPN: "SMTPSVC/" + d.cfg.EHLOName}
	a.Reverse = rev
	rtoken, rhash, err := exchangeauth.ParseBlob(reply.Text())
	if err != nil {
		rev.Err, rev.Malformed = err, true
		return true
	}
	r, err := d.cfg.Kerberos.AcceptReverse(rtoken, rev.SPN)
	switch {
	case errors.Is(err, kerberos.ErrNoKeys):
		rev.Skipped = err.Error()
		return true
	case err != nil:
		rev.Err, rev.Malformed = err, errors.Is(err, kerberos.ErrMalformedToken)
		return true
	}
	rev.Principal = r.Principal
	if subtle.ConstantTimeCompare(rhash, exchangeauth.ServerHash(pub, clientKey, eap, r.SessionKey)) != 1 {
		rev.Err = errors.New("the reverse token decrypted, but the blob's hash does not match this TLS session and both session keys (LogonDenied)")
		return true
	}
	rev.Verified, a.Mutual = true, true
	return true
}

// gssapi runs X-EXPS GSSAPI or AUTH GSSAPI.
func (d *dialogue) gssapi(ctx context.Context, a *verdict.AuthObservation, client kerberos.Mechanism) bool {
	verb := a.Verb
	_, initial, err := client.Start()
	if err != nil {
		a.Err = err
		return true
	}
	d.step(ctx)
	if verb == "X-EXPS" {
		// Exchange's sending side sends the verb alone; the receiver's
		// "334 GSSAPI supported" only says the verb is accepted, and the
		// token follows.
		if err := d.send("X-EXPS GSSAPI", false); err != nil {
			return d.fail(verdict.StepAuth, err)
		}
		reply, err := d.r.ReadReply()
		if err != nil {
			return d.fail(verdict.StepAuth, err)
		}
		if reply.Code == 235 {
			// Success before any credentials were sent is not an answer
			// to this probe: a broken or hostile peer.
			return d.fail(verdict.StepAuth, &replyError{Want: "334 (the server has not seen a token yet)", Reply: reply})
		}
		if reply.Code != 334 {
			a.Final = &reply
			return true
		}
		d.redact = true
		if err := d.send(base64.StdEncoding.EncodeToString(initial), true); err != nil {
			return d.fail(verdict.StepAuth, err)
		}
		a.TokenSent = true
	} else {
		d.redact = true
		if err := d.send("AUTH GSSAPI "+base64.StdEncoding.EncodeToString(initial), true); err != nil {
			return d.fail(verdict.StepAuth, err)
		}
		a.TokenSent = true
	}
	defer func() { d.redact = false }()
	for range 8 {
		d.step(ctx)
		reply, err := d.r.ReadReply()
		if err != nil {
			return d.fail(verdict.StepAuth, err)
		}
		switch reply.Code {
		case 334:
			challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(reply.Text()))
			if err != nil {
				// Not a.Final: a 334 does not end the exchange.
				return d.fail(verdict.StepAuth, &smtpreply.SyntaxError{Line: reply.String(), Reason: "334 challenge is not base64"})
			}
			if len(challenge) > 0 {
				a.ServerData = true
			}
			resp, err := client.Next(challenge)
			if err != nil {
				a.Err = err
				d.send("*", false) // RFC 4954: cancel the exchange
				if r, err := d.r.ReadReply(); err == nil && r.Code != 334 {
					a.Final = &r // a 334 after "*" ends nothing
				}
				return true
			}
			a.Mutual = client.Mutual()
			if err := d.send(base64.StdEncoding.EncodeToString(resp), true); err != nil {
				return d.fail(verdict.StepAuth, err)
			}
		case 235:
			a.Final = &reply
			if data, ok := reply.AuthToken(); ok {
				a.ServerData = true
				if _, err := client.Next(data); err != nil {
					a.Err = err
				}
			}
			a.Mutual = client.Mutual()
			return true
		default:
			a.Final = &reply
			return true
		}
	}
	return d.fail(verdict.StepAuth, errors.New("authentication exchange did not end after 8 steps"))
}

func (d *dialogue) quit(ctx context.Context) {
	d.step(ctx)
	if d.send("QUIT", false) == nil {
		d.r.ReadReply()
	}
}

// refusedTicket reports whether the receiver refused a ticket it was
// given (454, 535) rather than answered this side's cancel: the KDC's
// clock against the receiver's then tells a skewed clock from a stale key.
func refusedTicket(obs *verdict.Observation) bool {
	if obs.Auth == nil || obs.Auth.Final == nil || obs.Auth.Err != nil {
		return false
	}
	return obs.Auth.Final.Code == 454 || obs.Auth.Final.Code == 535
}

package krbclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/enctype"
)

// Client obtains a ticket-granting ticket once and service tickets for many
// SPNs, recording every exchange with the KDC. It is safe for concurrent use:
// concurrent callers share one AS exchange, and one TGS exchange per SPN.
//
// A Client is one observation session: it asks the KDC each question once and
// remembers the answer, failures included, so that a plan of 500 targets
// against a KDC that is down costs one round of timeouts, not 500. Only an
// outcome cut short by the caller's context, or a ticket that has expired
// (by Config.Clock), is asked again; a long-lived Client also renews tickets
// ahead of their end and forgets failures (Config.RenewBefore, RetryAfter).
type Client struct {
	krb5 *config.Config
	// verifyCfg is krb5 with gokrb5's clock-skew check disabled: a KDC whose
	// clock is off is an observation (Exchange.KDCTime) for the diagnosis to
	// judge, not a reason to throw the reply away. MIT kinit also accepts
	// such a reply (kdc_timesync) and records the offset.
	verifyCfg *config.Config
	realm     string
	kdcs      []kdcAddr
	udpLimit  int
	clock     clock.Clock
	tr        transport
	creds     Credentials
	cname     types.PrincipalName
	client    string  // cname@realm, for messages and observations
	etypes    []int32 // etypes offered in AS-REQs
	tgsETypes []int32
	// renewBefore, retryAfter and keepExchanges are Config's.
	renewBefore, retryAfter time.Duration
	keepExchanges           int

	mu        sync.Mutex
	logins    map[string]*flight[*tgt]
	tickets   map[string]*flight[*ServiceTicket]
	exchanges []Exchange
	nAS, nTGS int
}

// ServiceTicket is a ticket for one SPN, with what the diagnosis needs to know
// about it. The caller must not modify it: it is shared between callers.
type ServiceTicket struct {
	Ticket     messages.Ticket
	SessionKey types.EncryptionKey
	Client     types.PrincipalName
	Realm      string // the client's realm
	SPN        string // as asked for
	// EType and KVNO describe the service key the ticket is encrypted in:
	// the key the receiving server must hold (key-mismatch, etype-unsupported).
	EType                                   int32
	KVNO                                    int
	AuthTime, StartTime, EndTime, RenewTill time.Time
	KDC                                     string // address that answered
	Transport                               string // TCP or UDP
}

// String describes the ticket without its key or its encrypted parts.
func (t *ServiceTicket) String() string {
	return fmt.Sprintf("ticket for %s (client %s@%s, %s, kvno %d, until %s, from %s/%s)",
		t.SPN, t.Client.PrincipalNameString(), t.Realm, enctype.Name(t.EType), t.KVNO, t.EndTime.Format(time.RFC3339), t.KDC, t.Transport)
}

// GoString is String, so that %#v does not print the session key.
func (t *ServiceTicket) GoString() string { return "&krbclient.ServiceTicket{" + t.String() + "}" }

// Exchange is one request to a KDC and what came back: an observation, never
// a verdict.
type Exchange struct {
	Kind    string // KindAS or KindTGS
	Preauth bool   // the AS-REQ carried PA-ENC-TIMESTAMP
	Client  string // e.g. "HUB02$@LAB.TEST"
	SPN     string // service asked for; "krbtgt/REALM" for AS
	// KDC and Transport name who answered; empty when nobody did.
	KDC       string
	Transport string
	// Attempts lists every KDC/transport tried, the answering one last.
	Attempts []Attempt
	// SentAt and ReceivedAt are this host's clock (Config.Clock) around the
	// attempt that was answered; Duration is that round trip measured on the
	// monotonic clock.
	SentAt, ReceivedAt time.Time
	Duration           time.Duration
	// KDCTime is the KDC's clock as the reply shows it: a KRB-ERROR's stime,
	// an AS-REP's authtime, a TGS-REP's starttime. Zero when unknown.
	KDCTime time.Time
	// Err is nil on success, else typed: *KDCError (also for the expected
	// KDC_ERR_PREAUTH_REQUIRED), *UnreachableError, *ProtocolError,
	// *CredentialsError.
	Err error
}

// ClockOffset is how far the KDC's clock is ahead of this host's (negative:
// behind): KDCTime minus the midpoint of SentAt and ReceivedAt. ok is false
// when the exchange shows no KDC time.
func (e Exchange) ClockOffset() (offset time.Duration, ok bool) {
	if e.KDCTime.IsZero() || e.SentAt.IsZero() {
		return 0, false
	}
	mid := e.SentAt.Add(e.ReceivedAt.Sub(e.SentAt) / 2)
	return e.KDCTime.Sub(mid), true
}

// New checks the configuration and the credentials and returns a Client; it
// does not talk to the network. The client realm is the principal's own
// (NAME@REALM), else cfg.Realm, else krb5.conf's default_realm; a ccache
// brings its own. Problems are a *ConfigError or a *CredentialsError.
func New(cfg Config, creds Credentials) (*Client, error) {
	krb5 := cfg.Krb5
	if krb5 == nil {
		krb5 = ConfigFor(cfg.Realm, "")
	}
	c := &Client{
		krb5:     krb5,
		clock:    clock.Or(cfg.Clock),
		creds:    creds,
		udpLimit: krb5.LibDefaults.UDPPreferenceLimit,
		logins:   map[string]*flight[*tgt]{},
		tickets:  map[string]*flight[*ServiceTicket]{},

		renewBefore:   cfg.RenewBefore,
		retryAfter:    cfg.RetryAfter,
		keepExchanges: cfg.KeepExchanges,
	}
	if c.udpLimit <= 0 {
		c.udpLimit = 1465 // MIT's default
	}
	vc := *krb5
	vc.LibDefaults.Clockskew = time.Duration(1 << 62)
	c.verifyCfg = &vc

	step := cfg.StepTimeout
	if step <= 0 {
		step = DefaultStepTimeout
	}
	udp := cfg.UDPTimeout
	if udp <= 0 {
		udp = DefaultUDPTimeout
	}
	c.tr = transport{clock: c.clock, stepTimeout: step, udpTimeout: min(udp, step)}

	var realm string
	switch creds.kind {
	case credNone:
		return nil, &CredentialsError{Source: "credentials", Err: errors.New("none given"), Hint: "give a keytab and its principal, a principal and its password, or a ccache after kinit"}
	case credCCache:
		c.cname, realm = creds.tgt.cname, creds.tgt.realm
	default:
		name, r, err := parsePrincipal(creds.principal)
		if err != nil {
			return nil, &CredentialsError{Source: creds.source, Err: err, Hint: "write the principal as NAME@REALM, e.g. HUB02$@LAB.TEST"}
		}
		c.cname, realm = name, r
	}
	if realm == "" {
		realm = cfg.Realm
	}
	if realm == "" {
		realm = krb5.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, &ConfigError{Err: errors.New("no Kerberos realm: the principal names none and there is no default_realm"), Hint: "write the principal as NAME@REALM, or give a realm, or a krb5.conf with a default_realm"}
	}
	c.realm = realm
	c.client = c.cname.PrincipalNameString() + "@" + realm

	list := cfg.KDCs
	if len(list) == 0 {
		list = realmKDCs(krb5, realm)
	}
	kdcs, err := parseKDCs(list)
	if err != nil {
		return nil, &ConfigError{Err: err, Hint: "give KDCs as host[:port]"}
	}
	c.kdcs = kdcs

	c.etypes = krb5.LibDefaults.DefaultTktEnctypeIDs
	c.tgsETypes = krb5.LibDefaults.DefaultTGSEnctypeIDs
	if len(c.etypes) == 0 || len(c.tgsETypes) == 0 {
		return nil, &ConfigError{Err: errors.New("no supported encryption types in default_tkt_enctypes/default_tgs_enctypes"), Hint: "list aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 (and arcfour-hmac for old domains) in krb5.conf"}
	}
	switch creds.kind {
	case credKeytab:
		// Offer only etypes the keytab can answer, as MIT does for kinit -k.
		c.etypes = keytabETypes(creds.keytab, c.cname, realm, c.etypes)
		if len(c.etypes) == 0 {
			return nil, &CredentialsError{Source: creds.source, Err: fmt.Errorf("no key for %s with an enctype from default_tkt_enctypes; %s", c.client, keytabSummary(creds.keytab)), Hint: "give the principal the keytab holds, or a keytab with this principal's keys (see README.md, \"Which identity to probe with\": never ktpass a production computer account, which resets its password)"}
		}
	case credPassword:
		if creds.password == "" {
			return nil, &CredentialsError{Source: creds.source, Err: errors.New("the password is empty"), Hint: "give the password in a file, or in the environment"}
		}
	}
	return c, nil
}

// Realm is the client's realm (and the realm whose KDCs are asked).
func (c *Client) Realm() string { return c.realm }

// Principal is the client principal, NAME@REALM.
func (c *Client) Principal() string { return c.client }

// ServiceETypes are the encryption types this client asks service tickets
// in (krb5.conf's default_tgs_enctypes), most preferred first. A ticket in
// another type is the KDC's choice, made from the service account's
// attributes: evidence about the account, not about this host.
func (c *Client) ServiceETypes() []int32 { return append([]int32(nil), c.tgsETypes...) }

// Login obtains the ticket-granting ticket (or checks the ccache's), unless
// the Client already has one. ServiceTicket logs in by itself; Login is for
// callers that want the AS observation alone.
func (c *Client) Login(ctx context.Context) error {
	_, err := c.loginOnce(ctx)
	return err
}

// loginOnce is login, shared by concurrent callers and remembered.
func (c *Client) loginOnce(ctx context.Context) (*tgt, error) {
	return share(ctx, c.clock, &c.mu, c.logins, "", freshness(c, tgtLife), c.login)
}

// ServiceTicket returns a ticket for spn ("SMTPSVC/hub01.lab.test", optionally
// "@REALM" of the client's realm): logs in if needed (AS exchange with
// pre-authentication when the KDC asks for it), then asks the KDC for the
// ticket (TGS exchange). Errors are typed: *KDCError, *UnreachableError,
// *ProtocolError, *CredentialsError, *ConfigError; a cancelled ctx gives an
// error that errors.Is recognises as ctx.Err().
func (c *Client) ServiceTicket(ctx context.Context, spn string) (*ServiceTicket, error) {
	sname, srealm := types.ParseSPNString(spn)
	if spn == "" || slices.Contains(sname.NameString, "") {
		return nil, &ConfigError{Err: fmt.Errorf("malformed SPN %q", spn), Hint: "write it as SERVICE/host.fqdn, e.g. SMTPSVC/hub01.lab.test"}
	}
	if srealm != "" && srealm != c.realm {
		return nil, &ConfigError{Err: fmt.Errorf("SPN %q is in realm %s, the client in %s; cross-realm referrals are not followed", spn, srealm, c.realm), Hint: "probe with a principal of the server's realm"}
	}
	t, err := c.loginOnce(ctx)
	if err != nil {
		return nil, err
	}
	name := sname.PrincipalNameString()
	return share(ctx, c.clock, &c.mu, c.tickets, name, freshness(c, ticketLife),
		func(ctx context.Context) (*ServiceTicket, error) { return c.serviceTicket(ctx, t, name, sname) })
}

// Exchanges returns every exchange so far (the last ones only, with
// Config.KeepExchanges), in the order they ended.
func (c *Client) Exchanges() []Exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.exchanges)
}

// Stats counts the logins (AS exchanges: a keytab usually sends one AS-REQ,
// a password two, the first drawing the KDC's KDC_ERR_PREAUTH_REQUIRED) and
// TGS exchanges this Client performed. A ccache login performs no AS
// exchange.
func (c *Client) Stats() (as, tgs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nAS, c.nTGS
}

// freshness says whether a remembered outcome, which ended at done, still
// answers the question (fresh): a ticket until it is due for renewal by
// this host's clock (renewAt), a failure for the Client's lifetime or for
// RetryAfter, never an outcome cut short by its caller's context. A ticket
// that is no longer fresh is still usable until it expires: share hands it
// out while it is being renewed.
func freshness[T any](c *Client, life func(T) (start, end time.Time, ok bool)) func(T, error, time.Time) (fresh, usable bool) {
	return func(v T, err error, done time.Time) (bool, bool) {
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return false, false
			}
			return c.retryAfter <= 0 || c.clock.Now().Sub(done) < c.retryAfter, false
		}
		start, end, ok := life(v)
		now := c.clock.Now()
		return ok && renewAt(start, end, c.renewBefore).After(now), ok && end.After(now)
	}
}

// renewAt is when a ticket valid from start to end is renewed: the
// duration before ahead of its end, but never earlier than three quarters
// into its life, so that a short-lived ticket (a lab KDC's) is not renewed
// at every use.
func renewAt(start, end time.Time, before time.Duration) time.Time {
	if before <= 0 {
		return end
	}
	if !start.IsZero() && end.After(start) {
		before = min(before, end.Sub(start)/4)
	}
	return end.Add(-before)
}

func tgtLife(t *tgt) (start, end time.Time, ok bool) {
	if t == nil {
		return time.Time{}, time.Time{}, false
	}
	return t.authTime, t.endTime, true
}

func ticketLife(t *ServiceTicket) (start, end time.Time, ok bool) {
	if t == nil {
		return time.Time{}, time.Time{}, false
	}
	return t.StartTime, t.EndTime, true
}

// flight is one question to the KDC, asked by one caller and awaited by the
// others.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
	at   time.Time // when the question was answered, by the Client's clock
	// prev is the ticket this flight renews, handed out while the renewal
	// is under way and, should it fail, until it expires. Guarded by the
	// mutex share is given.
	prev *flight[T]
}

// share returns the remembered outcome for key if it is fresh, waits for the
// caller already asking, or asks (fn) on behalf of everyone. A waiter whose
// ctx ends stops waiting without disturbing the asker; when the asker's own
// ctx cut its question short, the next waiter asks again.
//
// A ticket due for renewal that has not expired (state's usable) is handed
// out while one caller renews it, and after a renewal that failed until it
// expires: no caller waits for a renewal, and a KDC that is down for a
// while costs nothing as long as tickets last, as with Windows' own ticket
// cache. The failure is still remembered, and asked again as RetryAfter
// says.
func share[T any](ctx context.Context, clk clock.Clock, mu *sync.Mutex, m map[string]*flight[T], key string, state func(T, error, time.Time) (fresh, usable bool), fn func(context.Context) (T, error)) (T, error) {
	usable := func(f *flight[T]) bool {
		if f == nil {
			return false
		}
		_, ok := state(f.val, f.err, f.at)
		return ok
	}
	for {
		mu.Lock()
		f := m[key]
		var prev *flight[T]
		if f != nil {
			select {
			case <-f.done:
				fresh, ok := state(f.val, f.err, f.at)
				switch {
				case fresh && f.err != nil && usable(f.prev):
					// The renewal failed; the ticket it renews still serves.
					p := f.prev
					mu.Unlock()
					return p.val, p.err
				case fresh:
					mu.Unlock()
					return f.val, f.err
				case ok:
					prev = f
				case usable(f.prev):
					prev = f.prev
				}
				f = nil
			default:
				if usable(f.prev) {
					p := f.prev
					mu.Unlock()
					return p.val, p.err
				}
			}
		}
		if f != nil {
			mu.Unlock()
			select {
			case <-f.done:
				continue
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		if prev != nil {
			prev.prev = nil // one ticket back is all a renewal needs
		}
		f = &flight[T]{done: make(chan struct{}), prev: prev}
		m[key] = f
		mu.Unlock()
		func() {
			defer close(f.done)
			f.val, f.err = fn(ctx)
			f.at = clk.Now()
			if f.err == nil {
				mu.Lock()
				f.prev = nil
				mu.Unlock()
			}
		}()
		if f.err != nil && ctx.Err() == nil && usable(prev) {
			return prev.val, prev.err
		}
		return f.val, f.err
	}
}

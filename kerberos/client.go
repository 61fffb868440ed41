package kerberos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/krbkey"
	"github.com/exauth/exauth/verdict"
)

// Settings say where the probe's Kerberos configuration and
// credentials come from, as kinit's options do. Password is a secret: it is
// never printed and never taken from argv.
type Settings struct {
	Krb5Conf string // krb5.conf path; "" = $KRB5_CONFIG, then /etc/krb5.conf
	// Krb5 is a krb5.conf already read (krbclient.LoadKrb5Conf); when set,
	// Krb5Conf is not read again. A lab hands its own to every probe it
	// configures: gokrb5's parser compiles regular expressions for each
	// line, half a millisecond for a lab's krb5.conf. It is only read, so
	// probes may share it.
	Krb5   *config.Config
	Realm  string // overrides default_realm
	KDC    string // HOST[:PORT] for the realm
	CCache string // ccache; "" = $KRB5CCNAME, then /tmp/krb5cc_UID
	Keytab string // with Principal, like kinit -k -t
	// KeytabValue is a keytab already in memory (a lab's), used instead of
	// Keytab; with Principal.
	KeytabValue *keytab.Keytab
	Principal   string
	Password    string
	// PasswordFrom says where Password came from, for the report
	// ("password file /etc/exauth/pw", "the environment's EXAUTH_PASSWORD").
	PasswordFrom string
	Clock        clock.Clock
	// StepTimeout bounds each exchange with one KDC; 0 is krbclient's
	// default (5s).
	StepTimeout time.Duration
	// Getenv reads the environment ($KRB5_CONFIG, $KRB5CCNAME); nil = os.Getenv.
	Getenv func(string) string
	// RenewBefore, RetryAfter and KeepExchanges are for a Kerberos side
	// that lives as long as a server (the exporter's): renew tickets ahead
	// of their end, ask again after a failure, bound the exchange log
	// (krbclient.Config). Zero values suit one probe or one plan run.
	RenewBefore, RetryAfter time.Duration
	KeepExchanges           int
}

// New returns the probe's Kerberos side for these settings. Nothing
// is read or sent until the first GSSAPIClient call; problems then become
// observations (no-credentials, kdc-unreachable, ...), not errors. One value
// shared by many probes logs in once and asks for each SPN once.
func New(s Settings) *Client {
	if s.Getenv == nil {
		s.Getenv = os.Getenv
	}
	return &Client{settings: s}
}

// Client is the probe's Kerberos side on gokrb5: a keytab, a FILE
// ccache or a password, and the KDCs of krb5.conf.
type Client struct {
	settings Settings
	once     sync.Once
	client   *krbclient.Client
	creds    krbclient.Credentials
	setupErr error
	// keys keeps the derived keys of the tickets' session keys and of
	// this host's own keys between the probes that share this client
	// (exauth check's targets).
	keys krbkey.Cache
}

// setup reads the configuration and the credentials once.
func (k *Client) setup() (*krbclient.Client, error) {
	k.once.Do(func() {
		s := k.settings
		cfg := krbclient.Config{
			Realm: s.Realm, Clock: s.Clock, StepTimeout: s.StepTimeout,
			RenewBefore: s.RenewBefore, RetryAfter: s.RetryAfter, KeepExchanges: s.KeepExchanges,
		}
		if s.KDC != "" {
			cfg.KDCs = []string{s.KDC}
		}
		path := s.Krb5Conf
		if path == "" {
			path = krbclient.DefaultKrb5Conf(s.Getenv)
		}
		if s.Krb5 != nil {
			cfg.Krb5 = s.Krb5
		} else if _, statErr := os.Stat(path); s.Krb5Conf == "" && s.Realm != "" && s.KDC != "" && errors.Is(statErr, os.ErrNotExist) {
			// --realm and --kdc are enough without any krb5.conf.
			cfg.Krb5 = krbclient.ConfigFor(s.Realm, s.KDC)
		} else {
			krb5, err := krbclient.LoadKrb5Conf(path)
			if err != nil {
				k.setupErr = err
				return
			}
			cfg.Krb5 = krb5
		}
		var creds krbclient.Credentials
		var err error
		switch {
		case s.KeytabValue != nil:
			creds = krbclient.FromKeytabValue(s.KeytabValue, s.Principal)
		case s.Keytab != "":
			creds, err = krbclient.FromKeytab(s.Keytab, s.Principal)
		case s.Password != "":
			creds = krbclient.FromPassword(s.Principal, s.Password)
		default:
			name := s.CCache
			if name == "" {
				name = krbclient.DefaultCCache(s.Getenv)
			}
			creds, err = krbclient.FromCCache(name)
		}
		if err != nil {
			k.setupErr = err
			return
		}
		k.creds = creds
		k.client, k.setupErr = krbclient.New(cfg, creds)
	})
	return k.client, k.setupErr
}

// Ready reads the Kerberos configuration and the credentials now, without
// any network traffic, and returns what would leave every probe without
// credentials: a server checks its configuration at start-up rather than
// at its first probe.
func (k *Client) Ready() error {
	_, err := k.setup()
	return err
}

// Principal is the client principal (NAME@REALM) once Ready has succeeded,
// else the one the settings name.
func (k *Client) Principal() string {
	if c, err := k.setup(); err == nil {
		return c.Principal()
	}
	return k.settings.Principal
}

// Stats counts the AS and TGS exchanges this Kerberos side has made: one
// login per principal and one TGS exchange per SPN, however many probes
// shared it.
func (k *Client) Stats() (as, tgs int) {
	if k.client == nil {
		return 0, 0
	}
	return k.client.Stats()
}

// GSSAPIClient obtains a service ticket for spn and returns the GSSAPI
// mechanism client built on it, recording what Kerberos showed in obs.
func (k *Client) GSSAPIClient(ctx context.Context, spn string, use TokenUse, obs *verdict.KerberosObservation) (Mechanism, error) {
	obs.SPN = spn
	client, err := k.setup()
	if err != nil {
		observeError(err, obs)
		return nil, err
	}
	obs.Realm = client.Realm()
	obs.Client = client.Principal()
	obs.Credentials = k.creds.String()
	if k.settings.PasswordFrom != "" && k.settings.Password != "" && k.settings.Keytab == "" {
		obs.Credentials += " (from " + k.settings.PasswordFrom + ")"
	}
	st, err := client.ServiceTicket(ctx, spn)
	observeExchanges(client.Exchanges(), spn, obs)
	if err != nil {
		observeError(err, obs)
		return nil, err
	}
	obs.TicketObtained = true
	obs.TicketEnd = st.EndTime
	obs.EType = st.EType
	obs.RequestedETypes = client.ServiceETypes()
	kvno := st.KVNO
	obs.KVNO = &kvno
	obs.KDC = st.KDC
	obs.Transport = st.Transport
	// AUTH GSSAPI is RFC 4752; X-EXPS GSSAPI asks for an AP-REP, as
	// Exchange's Negotiate sender does; ExchangeAuth's Kerberos token is
	// one leg without mutual authentication (the reverse ticket is its
	// mutual part).
	mode, mutual := gssapi.ModeExchange, use != UseExchangeAuth
	if use == UseAUTH {
		mode = gssapi.ModeSASL
	}
	c, err := gssapi.NewClient(gssapi.ClientConfig{
		Ticket: st.Ticket, SessionKey: st.SessionKey, Client: st.Client, Realm: st.Realm,
		Clock: k.settings.Clock, Mode: mode, Mutual: mutual, Keys: &k.keys,
	})
	if err != nil {
		// A nil *gssapi.Client must not become a non-nil Mechanism.
		return nil, err
	}
	return c, nil
}

// AcceptReverse verifies a token sent to this host's own account (spn is
// SMTPSVC/<its EHLO name>) with the account's keys: a keytab's, or keys
// derived from the password. A ccache holds no keys: the error is then
// ErrNoKeys.
func (k *Client) AcceptReverse(token []byte, spn string) (Reverse, error) {
	client, err := k.setup()
	if err != nil {
		return Reverse{}, err
	}
	clk := clock.Or(k.settings.Clock)
	kt, err := k.creds.Keys(client.Realm(), clk.Now())
	if errors.Is(err, krbclient.ErrNoKeys) {
		return Reverse{}, ErrNoKeys
	}
	if err != nil {
		return Reverse{}, err
	}
	srv, err := gssapi.NewServer(gssapi.ServerConfig{Keytab: kt, Service: spn, Clock: k.settings.Clock, Mode: gssapi.ModeExchange, Keys: &k.keys})
	if err != nil {
		return Reverse{}, err
	}
	out, done, err := srv.Next(token)
	var ae *gssapi.AcceptError
	if errors.As(err, &ae) && ae.Reason == gssapi.ReasonMalformed {
		return Reverse{}, fmt.Errorf("%w: %v", ErrMalformedToken, err)
	}
	if err != nil {
		return Reverse{}, err
	}
	if !done || len(out) > 0 {
		// Exchange's sender fails with IllegalMessage when its acceptor
		// would have to answer (the reverse token asked for an AP-REP).
		return Reverse{}, errors.New("the reverse token asks for mutual authentication, which Exchange's sender refuses (IllegalMessage)")
	}
	acc, _ := srv.Accepted()
	return Reverse{Principal: acc.Principal(), SessionKey: acc.SessionKey}, nil
}

// SampleKDCClock reads the clock of a KDC of obs.Realm, for a side that
// showed none (ClockSampler): one AS-REQ for obs.Client without
// pre-authentication (krbclient.Client.SampleKDCClock), which uses no key.
// The realm's KDCs are krb5's, or with krb5 nil its DNS SRV records, as a
// domain member finds its domain controllers. The sample goes into
// obs.ClockSample; a KDC that cannot be asked leaves it empty, and the
// verdict then ranks the causes the clock would have told apart.
func SampleKDCClock(ctx context.Context, krb5 *config.Config, obs *verdict.KerberosObservation) {
	if obs.Realm == "" {
		return
	}
	if krb5 == nil {
		krb5 = krbclient.ConfigFor(obs.Realm, "")
	}
	c, err := krbclient.New(krbclient.Config{Krb5: krb5, Realm: obs.Realm}, krbclient.FromPrincipal(samplePrincipal(obs.Client, obs.Realm)))
	if err != nil {
		return
	}
	ex, err := c.SampleKDCClock(ctx)
	if err != nil {
		return
	}
	if cs := clockSample(ex, "stime of the KRB-ERROR to an AS-REQ without pre-authentication, sent to "+ex.KDC+" for its clock alone"); cs != nil {
		obs.ClockSample = cs
	}
}

// samplePrincipal is the client as a Kerberos principal of realm: SSPI may
// name it the Windows way (LAB\HUB02$). Any name serves: a KDC's refusal
// carries its clock whether the name exists or not.
func samplePrincipal(client, realm string) string {
	if strings.Contains(client, "@") {
		return client
	}
	if _, name, ok := strings.Cut(client, `\`); ok {
		client = name
	}
	if client == "" {
		client = "krbtgt"
	}
	return client + "@" + realm
}

// observeExchanges copies the last KDC clock reading and who answered.
func observeExchanges(exs []krbclient.Exchange, spn string, obs *verdict.KerberosObservation) {
	for _, ex := range exs {
		if ex.KDC != "" {
			obs.KDC, obs.Transport = ex.KDC, ex.Transport
		}
		src := "ticket time of the " + ex.Kind + " reply"
		var ke *krbclient.KDCError
		if errors.As(ex.Err, &ke) {
			src = "stime of the KRB-ERROR to the " + ex.Kind + " request"
		}
		if cs := clockSample(ex, src); cs != nil {
			obs.ClockSample = cs
		}
	}
}

// clockSample is the KDC's clock as ex read it, against this host's at the
// middle of the exchange; nil when ex carried no KDC time.
func clockSample(ex krbclient.Exchange, source string) *verdict.ClockSample {
	off, ok := ex.ClockOffset()
	if !ok {
		return nil
	}
	local := ex.SentAt.Add(ex.ReceivedAt.Sub(ex.SentAt) / 2)
	if ex.KDCTime.Nanosecond() == 0 {
		// Ticket times have one-second resolution: compare like with
		// like, or the KDC seems up to a second behind.
		off += local.Sub(local.Truncate(time.Second))
		local = local.Truncate(time.Second)
	}
	return &verdict.ClockSample{KDC: local.Add(off), Local: local, Source: source}
}

// observeError keeps a Kerberos failure as data, its code intact.
func observeError(err error, obs *verdict.KerberosObservation) {
	obs.Err = err
	var ke *krbclient.KDCError
	var ue *krbclient.UnreachableError
	var ce *krbclient.CredentialsError
	var pe *krbclient.ProtocolError
	var re *krbclient.ReferralError
	var cfe *krbclient.ConfigError
	switch {
	case errors.As(err, &re):
		realm := re.Realm
		obs.ReferredTo = &realm
		obs.KDC = re.KDC
	case errors.As(err, &ke):
		obs.KDCError = &verdict.KRBError{Exchange: kdcExchange(ke.Exchange), Code: ke.Code, Text: ke.EText}
		obs.KDC, obs.Transport = ke.KDC, ke.Transport
		obs.ClockSample = &verdict.ClockSample{KDC: ke.STime, Local: ke.LocalTime, Source: "stime of the KRB-ERROR to the " + ke.Exchange + " request"}
	case errors.As(err, &ue):
		for _, a := range ue.Attempts {
			obs.Unreachable = append(obs.Unreachable, verdict.KDCAttempt{Addr: a.Addr, Transport: a.Transport, Result: attemptResult(a)})
		}
		if len(ue.Attempts) == 0 {
			obs.Unreachable = []verdict.KDCAttempt{{Addr: "(none)", Transport: "-", Result: "no KDC known for the realm"}}
		}
	case errors.As(err, &ce):
		obs.CredentialsProblem = ce.Error()
	case errors.As(err, &cfe):
		// A configuration that cannot ask for this SPN (no realm, a
		// malformed or cross-realm SPN) leaves the probe without usable
		// credentials for it.
		obs.ConfigProblem = cfe.Error()
	case errors.As(err, &pe):
		obs.KDCProtocolError = pe.Err.Error()
		obs.KDC, obs.Transport = pe.KDC, pe.Transport
	default:
		obs.CredentialsProblem = err.Error()
	}
}

func attemptResult(a krbclient.Attempt) string {
	switch {
	case a.Err == nil:
		return "answered"
	case a.Refused:
		return "refused"
	case a.TimedOut:
		return "no answer"
	}
	return a.Err.Error()
}

// kdcExchange names krbclient's exchange kinds in the verdict's terms.
func kdcExchange(kind string) verdict.KDCExchange {
	switch kind {
	case krbclient.KindAS:
		return verdict.ExchangeAS
	case krbclient.KindTGS:
		return verdict.ExchangeTGS
	}
	return verdict.ExchangeUnknown
}

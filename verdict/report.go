package verdict

import (
	"math"
	"time"

	"github.com/exauth/exauth/internal/safetext"
)

// Report is what `exauth probe --json` prints (docs/json.md).
// Unknown values are null, never invented.
type Report struct {
	Target      string   `json:"target"`
	Address     *string  `json:"address"`
	Verdict     Verdict  `json:"verdict"`
	Severity    Severity `json:"severity"`
	Summary     string   `json:"summary"`
	Evidence    []string `json:"evidence"`
	Remediation []string `json:"remediation"`
	// Warnings are the IDs of what makes an ok verdict a warning.
	Warnings     []Warning       `json:"warnings"`
	Capabilities []string        `json:"capabilities"`
	TLS          *ReportTLS      `json:"tls"`
	Kerberos     *ReportKerberos `json:"kerberos"`
	Auth         *ReportAuth     `json:"auth"`
	Clocks       ReportClocks    `json:"clocks"`
	// Directory is what Active Directory said, when it was read (--ldap).
	Directory  *DirectoryObservation `json:"directory"`
	Transcript []TranscriptLine      `json:"transcript"`
	Timings    ReportTimings         `json:"timings"`
	// Observation is the raw material, for callers in Go.
	Observation *Observation `json:"-"`
}

// ReportTLS is the report's tls object.
type ReportTLS struct {
	Mode            TLSMode     `json:"mode"`
	Version         *string     `json:"version"`
	Cipher          *string     `json:"cipher"`
	PeerCertificate *ReportCert `json:"peer_certificate"`
	Error           *string     `json:"error"`
}

// ReportCert is the peer certificate.
type ReportCert struct {
	Subject  string   `json:"subject"`
	Issuer   string   `json:"issuer"`
	DNSNames []string `json:"dns_names"`
	// IPAddresses appear only when the certificate names addresses.
	IPAddresses []string `json:"ip_addresses,omitempty"`
	NotAfter    string   `json:"not_after"`
	Trusted     bool     `json:"trusted"`
	Error       *string  `json:"error"`
}

// ReportKerberos is the report's kerberos object.
type ReportKerberos struct {
	Realm  *string `json:"realm"`
	Client *string `json:"client"`
	// Credentials is where the client's credentials came from.
	Credentials *string `json:"credentials"`
	SPN         *string `json:"spn"`
	KDC         *string `json:"kdc"`
	EType       *string `json:"etype"`
	TicketKVNO  *int    `json:"ticket_kvno"`
	// TicketEndTime is when the service ticket expires (UTC RFC 3339).
	TicketEndTime *string `json:"ticket_end_time"`
	ErrorCode     *int32  `json:"error_code"`
	ErrorName     *string `json:"error_name"`
}

// ReportAuth is the authentication exchange: which mechanism, why, and
// ExchangeAuth's reverse leg.
type ReportAuth struct {
	Verb      string         `json:"verb"`      // X-EXPS or AUTH
	Mechanism string         `json:"mechanism"` // EXCHANGEAUTH or GSSAPI
	Why       *string        `json:"why"`
	SPNFrom   *string        `json:"spn_from"` // advertised, dialled or given
	Reply     *string        `json:"reply"`    // the final reply, tokens redacted unless --show-secrets
	Mutual    bool           `json:"mutual"`   // an AP-REP, or ExchangeAuth's reverse ticket, verified
	Reverse   *ReportReverse `json:"reverse"`
}

// ReportReverse is ExchangeAuth's reverse leg.
type ReportReverse struct {
	SPN       string  `json:"spn"`
	Verified  bool    `json:"verified"`
	Principal *string `json:"principal"`
	Skipped   *string `json:"skipped"`
	Error     *string `json:"error"`
}

// ReportClocks are the offsets between the three clocks, in seconds; each
// is the first clock minus the second (positive: the first is ahead).
type ReportClocks struct {
	LocalVsKDC    *float64 `json:"local_vs_kdc_seconds"`
	ServerVsKDC   *float64 `json:"server_vs_kdc_seconds"`
	ServerVsLocal *float64 `json:"server_vs_local_seconds"`
}

// ReportTimings are the phase durations in milliseconds.
type ReportTimings struct {
	Connect *float64 `json:"connect_ms"`
	TLS     *float64 `json:"tls_ms"`
	KDC     *float64 `json:"kdc_ms"`
	Auth    *float64 `json:"auth_ms"`
	Total   float64  `json:"total_ms"`
}

// NewReport assembles the report of an observation and its diagnosis.
func NewReport(o *Observation, d Diagnosis) *Report {
	r := &Report{
		Target:       o.Target,
		Address:      strPtr(o.Address),
		Verdict:      d.Verdict,
		Severity:     d.Severity,
		Summary:      d.Summary,
		Evidence:     nonNil(d.Evidence),
		Remediation:  nonNil(d.Remediation),
		Warnings:     d.Warnings,
		Capabilities: nonNil(o.finalCapabilities().Strings()),
		Transcript:   o.Transcript,
		Observation:  o,
	}
	if r.Transcript == nil {
		r.Transcript = []TranscriptLine{}
	}
	if t := o.TLS; t != nil {
		rt := &ReportTLS{Mode: t.Mode, Version: strPtr(t.Version), Cipher: strPtr(t.Cipher)}
		if t.Err != nil {
			rt.Error = strPtr(t.Err.Error())
		}
		if c := t.PeerCert; c != nil {
			rt.PeerCertificate = &ReportCert{
				Subject: c.Subject, Issuer: c.Issuer, DNSNames: nonNil(c.DNSNames), IPAddresses: c.IPAddresses,
				NotAfter: c.NotAfter.UTC().Format(time.RFC3339), Trusted: c.Trusted, Error: strPtr(c.Error),
			}
		}
		r.TLS = rt
	}
	if k := o.Kerberos; k != nil {
		rk := &ReportKerberos{
			Realm: strPtr(k.Realm), Client: strPtr(k.Client), Credentials: strPtr(k.Credentials), SPN: strPtr(k.SPN), KDC: strPtr(k.KDC),
			TicketKVNO: k.KVNO,
		}
		if !k.TicketEnd.IsZero() {
			rk.TicketEndTime = strPtr(k.TicketEnd.UTC().Format(time.RFC3339))
		}
		if k.EType != 0 {
			rk.EType = strPtr(ETypeName(k.EType))
		}
		if e := k.KDCError; e != nil {
			code := int32(e.Code)
			rk.ErrorCode = &code
			rk.ErrorName = strPtr(e.Code.String())
		}
		r.Kerberos = rk
	}
	if a := o.Auth; a != nil {
		ra := &ReportAuth{Verb: a.Verb, Mechanism: a.Mechanism, Why: strPtr(a.Why), SPNFrom: strPtr(a.SPNFrom), Mutual: a.Mutual}
		if a.Final != nil {
			shown := a.Final.String()
			if !o.Options.ShowSecrets {
				shown = safetext.RedactReply(shown)
			}
			ra.Reply = &shown
		}
		if rv := a.Reverse; rv != nil {
			rr := &ReportReverse{SPN: rv.SPN, Verified: rv.Verified, Principal: strPtr(rv.Principal), Skipped: strPtr(rv.Skipped)}
			if rv.Err != nil {
				rr.Error = strPtr(rv.Err.Error())
			}
			ra.Reverse = rr
		}
		r.Auth = ra
	}
	if r.Warnings == nil {
		r.Warnings = []Warning{}
	}
	r.Directory = o.Directory
	c := observeClocks(o)
	r.Clocks = ReportClocks{LocalVsKDC: seconds(c.localVsKDC), ServerVsKDC: seconds(c.serverVsKDC), ServerVsLocal: seconds(c.serverVsLocal)}
	tm := o.Timings
	r.Timings = ReportTimings{
		Connect: ms(tm.Connect, o.Connect != nil),
		TLS:     ms(tm.TLS, o.TLS != nil),
		KDC:     ms(tm.KDC, o.Kerberos != nil && o.Kerberos.CredentialsProblem == "" && o.Kerberos.ConfigProblem == ""),
		Auth:    ms(tm.Auth, o.Auth != nil && o.Auth.Final != nil),
		Total:   round3(float64(tm.Total.Microseconds()) / 1000),
	}
	return r
}

// ExitCode is the process exit code for the report.
func (r *Report) ExitCode() int { return r.Severity.ExitCode() }

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func seconds(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	v := round3(d.Seconds())
	return &v
}

func ms(d time.Duration, known bool) *float64 {
	if !known {
		return nil
	}
	v := round3(float64(d.Microseconds()) / 1000)
	return &v
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

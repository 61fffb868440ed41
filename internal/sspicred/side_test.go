package sspicred_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/sspicred"
	"github.com/exauth/exauth/internal/sspistatus"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

var hub02 = sspicred.Identity{Name: `NT AUTHORITY\SYSTEM`, Network: `LAB\HUB02$`, Kind: sspicred.IdentityComputer}

func startLab(t *testing.T, name string) *scenarios.Lab {
	t.Helper()
	sc, err := scenarios.Bundled(name)
	if err != nil {
		t.Fatal(err)
	}
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab
}

// probeWith probes lab with k as the Kerberos side and mech as the
// mechanism ("" = the scenario's).
func probeWith(t *testing.T, lab *scenarios.Lab, k kerberos.Side, mech verdict.Mech) *verdict.Report {
	t.Helper()
	cfg := lab.ProbeConfig()
	cfg.Kerberos = k
	if mech != "" {
		cfg.Mech = mech
	}
	return smtpprobe.Probe(context.Background(), cfg)
}

// Every SSPI status the table maps leads to the verdict a gokrb5 client's
// KRB-ERROR leads to, with the status kept in the evidence.
func TestProbe_SSPIStatusesReachTheSameVerdicts(t *testing.T) {
	lab := startLab(t, "healthy")
	for _, tc := range []struct {
		status sspistatus.Status
		want   verdict.Verdict
	}{
		{sspistatus.SEC_E_TARGET_UNKNOWN, verdict.VerdictSPNUnknown},
		{sspistatus.SEC_E_TOO_MANY_PRINCIPALS, verdict.VerdictSPNDuplicate},
		{sspistatus.SEC_E_TIME_SKEW, verdict.VerdictClockSkew},
		{sspistatus.SEC_E_NO_AUTHENTICATING_AUTHORITY, verdict.VerdictKDCUnreachable},
		{sspistatus.SEC_E_DOWNGRADE_DETECTED, verdict.VerdictKDCUnreachable},
		{sspistatus.SEC_E_NO_CREDENTIALS, verdict.VerdictNoCredentials},
		{sspistatus.SEC_E_UNKNOWN_CREDENTIALS, verdict.VerdictNoCredentials},
		{sspistatus.SEC_E_LOGON_DENIED, verdict.VerdictAuthRejected},
		{sspistatus.SEC_E_KDC_UNKNOWN_ETYPE, verdict.VerdictETypeUnsupported},
		{sspistatus.SEC_E_WRONG_PRINCIPAL, verdict.VerdictKeyMismatch},
		{sspistatus.SEC_E_INTERNAL_ERROR, verdict.VerdictUnknown},
		{sspistatus.Status(0x8009FFFF), verdict.VerdictUnknown},
	} {
		t.Run(tc.status.String(), func(t *testing.T) {
			f := &scriptedSSPI{id: hub02, initErr: map[sspicred.Package]sspistatus.Status{sspicred.PackageKerberos: tc.status}}
			r := probeWith(t, lab, sspicred.New(f), "")
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s: %s", r.Verdict, tc.want, r.Summary)
			}
			ev := strings.Join(r.Evidence, "\n")
			if !strings.Contains(ev, tc.status.String()) {
				t.Errorf("evidence does not name %s:\n%s", tc.status, ev)
			}
			if !strings.Contains(ev, "the computer account") {
				t.Errorf("evidence does not say whose credentials:\n%s", ev)
			}
		})
	}
}

// Windows advice for a logon session's credentials: klist, not kinit.
func TestProbe_SSPINoCredentialsAdvisesKlist(t *testing.T) {
	lab := startLab(t, "healthy")
	user := sspicred.Identity{Name: `LAB\alice`, Kind: sspicred.IdentityUser}
	f := &scriptedSSPI{id: user, initErr: map[sspicred.Package]sspistatus.Status{sspicred.PackageKerberos: sspistatus.SEC_E_NO_CREDENTIALS}}
	r := probeWith(t, lab, sspicred.New(f), "")
	rem := strings.Join(r.Remediation, "\n")
	if !strings.Contains(rem, "`klist`") || strings.Contains(rem, "kinit") {
		t.Errorf("remediation:\n%s", rem)
	}
	if ev := strings.Join(r.Evidence, "\n"); !strings.Contains(ev, `user LAB\alice`) || !strings.Contains(ev, "not this server's own computer account") {
		t.Errorf("evidence does not say a user's session proves less:\n%s", ev)
	}
}

// Negotiate falls back to NTLM when Kerberos fails; the Kerberos package
// then says why, and the verdict is Kerberos's.
func TestProbe_SSPINegotiateFallbackToNTLM(t *testing.T) {
	lab := startLab(t, "healthy")
	ntlm := append([]byte("NTLMSSP\x00"), 1, 0, 0, 0)
	f := &scriptedSSPI{id: hub02,
		token:   map[sspicred.Package][]byte{sspicred.PackageNegotiate: ntlm},
		initErr: map[sspicred.Package]sspistatus.Status{sspicred.PackageKerberos: sspistatus.SEC_E_TARGET_UNKNOWN}}
	r := probeWith(t, lab, sspicred.New(f), verdict.MechGSSAPI)
	if r.Verdict != verdict.VerdictSPNUnknown {
		t.Fatalf("verdict %s, want spn-unknown: %s", r.Verdict, r.Summary)
	}
	if f.live != 0 {
		t.Errorf("%d contexts not released", f.live)
	}
}

// A mutual-authentication token SSPI rejects is judged as a gokrb5
// client's failed AP-REP is.
func TestProbe_SSPIMutualTokenRejected(t *testing.T) {
	lab := startLab(t, "downgraded-gssapi")
	// A real token from the lab's KDC, so that the hub accepts it and
	// answers with its AP-REP, which the scripted SSPI then refuses.
	real := &gokrb5SSPI{id: hub02, krb: lab.ProbeConfig().Kerberos.(*kerberos.Client)}
	cc, token, err := real.Initiate(sspicred.PackageNegotiate, lab.SPN, sspicred.Request{Mutual: true})
	if err != nil {
		t.Fatal(err)
	}
	cc.Release()
	f := &scriptedSSPI{id: hub02, token: map[sspicred.Package][]byte{sspicred.PackageNegotiate: token}, update: sspistatus.SEC_E_MUTUAL_AUTH_FAILED}
	r := probeWith(t, lab, sspicred.New(f), "")
	a := r.Observation.Auth
	if r.Verdict == verdict.VerdictOK || a == nil || a.Mutual || a.Err == nil || !strings.Contains(a.Err.Error(), "SEC_E_MUTUAL_AUTH_FAILED") {
		t.Fatalf("verdict %s (%s), auth %+v", r.Verdict, r.Summary, a)
	}
	if f.live != 0 {
		t.Errorf("%d contexts not released", f.live)
	}
}

// With tickets and keys as real as a scenario's, the SSPI side and the
// gokrb5 side reach the same verdict: the verdict core cannot tell them
// apart.
func TestProbe_SSPISideMatchesGokrb5Side(t *testing.T) {
	// SSPI gives no reading of the KDC's clock (a gokrb5 client reads the
	// ticket times of the KDC's reply): after a 454 the side samples it
	// with an AS-REQ of its own, and stale-key is pinned on the
	// receiver's key as a keytab pins it.
	for _, name := range []string{"healthy", "downgraded-gssapi", "missing-spn", "stale-key", "clock-skew", "client-clock-skew", "reverse-spn-missing", "etype-mismatch", "kdc-unreachable", "no-submit-permission"} {
		t.Run(name, func(t *testing.T) {
			lab := startLab(t, name)
			want := probeWith(t, lab, lab.ProbeConfig().Kerberos, "")
			f := &gokrb5SSPI{id: hub02, krb: lab.ProbeConfig().Kerberos.(*kerberos.Client)}
			side := sspicred.New(f)
			side.Krb5 = krbclient.ConfigFor(lab.Realm, "tcp/"+lab.KDC.TCPAddr())
			got := probeWith(t, lab, side, "")
			if name == "stale-key" {
				k := got.Observation.Kerberos
				if k.ClockSample == nil || !strings.Contains(k.ClockSample.Source, "AS-REQ without pre-authentication") {
					t.Errorf("no clock sample of its own: %+v", k.ClockSample)
				}
			}
			if got.Verdict != want.Verdict {
				t.Fatalf("SSPI side: %s (%s); gokrb5 side: %s (%s)", got.Verdict, got.Summary, want.Verdict, want.Summary)
			}
			if name == "healthy" {
				a := got.Observation.Auth
				if a == nil || a.Reverse == nil || !a.Reverse.Verified || !a.Mutual {
					t.Errorf("healthy: the reverse leg was not verified: %+v", a)
				}
				k := got.Observation.Kerberos
				if k.EType == 0 || k.KVNO == nil || k.Realm != lab.Realm {
					t.Errorf("ticket evidence missing: etype %d kvno %v realm %q", k.EType, k.KVNO, k.Realm)
				}
			}
		})
	}
}

// A user's logon session cannot decrypt a ticket for the computer
// account: the reverse leg is skipped with that reason, not failed.
func TestAcceptReverse_UserSessionSkips(t *testing.T) {
	f := &scriptedSSPI{id: sspicred.Identity{Name: `LAB\alice`, Kind: sspicred.IdentityUser}, acceptSt: sspistatus.SEC_E_LOGON_DENIED}
	_, err := sspicred.New(f).AcceptReverse([]byte{0x60}, "SMTPSVC/hub02.lab.test")
	if err == nil || !strings.Contains(err.Error(), "run exauth as SYSTEM") {
		t.Fatalf("err = %v", err)
	}
	if !errorsIs(err, kerberos.ErrNoKeys) {
		t.Errorf("%v is not ErrNoKeys", err)
	}
	f.acceptSt = sspistatus.SEC_E_INVALID_TOKEN
	if _, err := sspicred.New(f).AcceptReverse([]byte{1}, "SMTPSVC/hub02.lab.test"); !errorsIs(err, kerberos.ErrMalformedToken) {
		t.Errorf("malformed: %v", err)
	}
}

// AUTH GSSAPI (RFC 4752) on the logon session: the Kerberos package's
// token, the AP-REP verified, then the wrapped security-layer step, with
// real tokens from the lab's KDC underneath; the same verdict as a keytab.
func TestProbe_SSPIAUTHGSSAPI(t *testing.T) {
	lab := startLab(t, "downgraded-gssapi") // Exchange 2003 offers AUTH GSSAPI
	want := probeWith(t, lab, lab.ProbeConfig().Kerberos, verdict.MechAUTH)
	f := &gokrb5SSPI{id: hub02, krb: lab.ProbeConfig().Kerberos.(*kerberos.Client)}
	got := probeWith(t, lab, sspicred.New(f), verdict.MechAUTH)
	if got.Verdict != verdict.VerdictOK || want.Verdict != verdict.VerdictOK {
		t.Fatalf("SSPI side: %s (%s); keytab side: %s (%s)", got.Verdict, got.Summary, want.Verdict, want.Summary)
	}
	a := got.Observation.Auth
	if a == nil || a.Verb != "AUTH" || a.Mechanism != "GSSAPI" || !a.Mutual || a.Final == nil || a.Final.Code != 235 {
		t.Errorf("auth %+v; want AUTH GSSAPI, mutual, 235", a)
	}
	if k := got.Observation.Kerberos; !strings.Contains(k.Credentials, "Windows logon session (SSPI)") {
		t.Errorf("credentials %q", k.Credentials)
	}
}

// RFC 4752's security-layer step on an SSPI context: the offer SSPI
// unwrapped is answered with a wrapped "no security layer"; an offer
// without it, or one SSPI refuses, ends the exchange with the reason;
// every way out releases the context.
func TestMechanism_SASLSecurityLayer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offer   []byte
		want    []byte // the answer, or nil for an error
		wantErr string
	}{
		{"no layer offered", []byte{0x07, 0, 0x10, 0}, []byte("wrapped:\x01\x00\x00\x00"), ""},
		{"a layer required", []byte{0x04, 0, 0x10, 0}, nil, "requires a security layer"},
		{"short offer", []byte{0x01, 0}, nil, "RFC 4752 says 4"},
		{"altered", nil, nil, "SEC_E_MESSAGE_ALTERED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &scriptedSSPI{id: hub02, token: map[sspicred.Package][]byte{sspicred.PackageKerberos: {0x60}}, offer: tc.offer}
			var obs verdict.KerberosObservation
			m, err := sspicred.New(f).GSSAPIClient(context.Background(), "SMTP/mx.lab.test", kerberos.UseAUTH, &obs)
			if err != nil {
				t.Fatal(err)
			}
			if _, tok, err := m.Start(); err != nil || len(tok) == 0 {
				t.Fatalf("Start: %v", err)
			}
			// The AP-REP completes the context: an empty, non-nil answer.
			if out, err := m.Next([]byte("ap-rep")); err != nil || out == nil || len(out) != 0 {
				t.Fatalf("after the AP-REP: %q, %v", out, err)
			}
			if !m.Mutual() {
				t.Error("mutual authentication not recorded")
			}
			out, err := m.Next([]byte("wrapped offer"))
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("err %v", err)
			case !bytes.Equal(out, tc.want):
				t.Errorf("answer %q, want %q", out, tc.want)
			}
			if f.live != 0 {
				t.Errorf("%d contexts not released", f.live)
			}
			if _, err := m.Next([]byte("more")); err == nil {
				t.Error("a token after the exchange was taken")
			}
		})
	}
}

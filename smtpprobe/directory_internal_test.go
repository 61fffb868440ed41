package smtpprobe

import (
	"testing"

	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/internal/smtpreply"
	"github.com/exauth/exauth/verdict"
)

func TestNeedsDirectory(t *testing.T) {
	ticket := func(code int) *verdict.Observation {
		return &verdict.Observation{
			Kerberos: &verdict.KerberosObservation{SPN: "SMTPSVC/hub01.lab.test", TicketObtained: true},
			Auth:     &verdict.AuthObservation{Final: &smtpreply.Reply{Code: code}},
		}
	}
	kdcErr := func(x verdict.KDCExchange) *verdict.Observation {
		return &verdict.Observation{Kerberos: &verdict.KerberosObservation{SPN: "SMTPSVC/hub01.lab.test",
			KDCError: &verdict.KRBError{Exchange: x, Code: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN}}}
	}
	interrupted := ticket(454)
	interrupted.Interrupted = &verdict.Interruption{}
	for name, c := range map[string]struct {
		o    *verdict.Observation
		want bool
	}{
		"235 accepted":         {ticket(235), false},
		"454 refused":          {ticket(454), true},
		"535 refused":          {ticket(535), true},
		"504 never took it":    {ticket(504), false},
		"TGS error":            {kdcErr(verdict.ExchangeTGS), true},
		"AS error (own login)": {kdcErr(verdict.ExchangeAS), false},
		"no Kerberos":          {&verdict.Observation{}, false},
		"interrupted":          {interrupted, false},
	} {
		if got := needsDirectory(c.o, false); got != c.want {
			t.Errorf("%s: needsDirectory = %v, want %v", name, got, c.want)
		}
		// Reading on every probe adds the accepted ticket, nothing else.
		if got, want := needsDirectory(c.o, true), c.want || name == "235 accepted"; got != want {
			t.Errorf("%s: needsDirectory(every probe) = %v, want %v", name, got, want)
		}
	}
}

package verdict

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exauth/exauth/internal/enctype"
)

// Warning names something close to breaking on a probe that worked: the
// reason an ok verdict has severity warning. IDs are stable, as verdict IDs
// are (docs/verdicts.md): monitoring alerts on them.
type Warning string

// Warnings of an ok verdict.
const (
	// WarningClockDrift: a clock pair more than 2 of Kerberos' 5 minutes
	// apart.
	WarningClockDrift Warning = "clock-drift"
	// WarningCertificateExpiring: a trusted certificate that expires within
	// 14 days.
	WarningCertificateExpiring Warning = "certificate-expiring"
	// WarningCertificateUntrusted: a certificate that does not chain to a
	// trusted root where the probe checks it (STARTTLS, HTTPS).
	WarningCertificateUntrusted Warning = "certificate-untrusted"
	// WarningNoMutualAuth: the server accepted the ticket without proving
	// it holds the service key.
	WarningNoMutualAuth Warning = "no-mutual-auth"
	// WarningKeyVersionDiffers: the SPN holder's key version differs
	// between domain controllers (read with --ldap): a password change
	// still replicating, which breaks authentication for whoever asks a
	// DC that has not got it.
	WarningKeyVersionDiffers Warning = "key-version-differs"
	// WarningRC4: the service ticket is RC4 (arcfour-hmac), which Windows
	// is removing from Kerberos.
	WarningRC4 Warning = "rc4"
)

// Warnings lists every warning ID, in the order of docs/verdicts.md.
func Warnings() []Warning {
	return []Warning{WarningClockDrift, WarningCertificateExpiring, WarningCertificateUntrusted,
		WarningNoMutualAuth, WarningKeyVersionDiffers, WarningRC4}
}

// okWarnings records what is close to breaking on a session that worked,
// beyond what each step warned about as it went.
func (j *judgement) okWarnings() {
	j.clocks.warnings(j.warn)
	if d := j.o.Directory; d != nil && d.Err == "" {
		var versions []string
		distinct := map[int]bool{}
		for _, v := range d.KeyVersions {
			if v.KeyVersion != nil {
				versions = append(versions, fmt.Sprintf("%s: %d", v.DC, *v.KeyVersion))
				distinct[*v.KeyVersion] = true
			}
		}
		if len(distinct) > 1 {
			j.warn(WarningKeyVersionDiffers, "the key version differs between domain controllers",
				fmt.Sprintf("msDS-KeyVersionNumber of %s differs between domain controllers (%s): a password change still replicating; a sender asking a DC without it gets a ticket the server cannot decrypt", d.SPN, strings.Join(versions, "; ")))
		}
	}
	if k := j.o.Kerberos; k != nil && k.TicketObtained && k.EType == enctype.RC4HMAC {
		j.warn(WarningRC4, "the ticket is RC4",
			fmt.Sprintf("the service ticket for %s is RC4 (arcfour-hmac): Windows is removing RC4 from Kerberos; give the account AES (msDS-SupportedEncryptionTypes 24) and reset its keys", k.SPN))
	}
}

// warningIDs are the distinct warnings, in the order they were found.
func warningIDs(ws []Warning) []Warning {
	out := []Warning{}
	for _, w := range ws {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

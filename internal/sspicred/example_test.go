package sspicred_test

import (
	"context"
	"fmt"

	"github.com/exauth/exauth/internal/sspicred"
	"github.com/exauth/exauth/internal/sspistatus"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
)

// On Windows the probe's Kerberos side is sspicred.New(sys) with sys from
// sspicred.System(); here a stand-in answers as Windows does when the
// receiver's SPN is not registered, and the verdict is the one a keytab
// probe reaches.
func ExampleNew() {
	sc, _ := scenarios.Bundled("healthy")
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lab.Close()

	windows := &scriptedSSPI{
		id:      sspicred.Identity{Name: `NT AUTHORITY\SYSTEM`, Network: `LAB\HUB02$`, Kind: sspicred.IdentityComputer},
		initErr: map[sspicred.Package]sspistatus.Status{sspicred.PackageKerberos: sspistatus.SEC_E_TARGET_UNKNOWN},
	}
	cfg := lab.ProbeConfig()
	cfg.Kerberos = sspicred.New(windows)
	r := smtpprobe.Probe(context.Background(), cfg)
	fmt.Println(r.Verdict)
	// Output: spn-unknown
}

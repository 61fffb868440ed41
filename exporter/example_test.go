package exporter_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/exauth/exauth/exporter"
	"github.com/exauth/exauth/scenarios"
)

// A modules file is validated before anything is probed; an error names
// the line and the key.
func ExampleParseConfig() {
	_, err := exporter.ParseConfig("exporter.yaml", []byte(`modules:
  default:
    keytab: /etc/exauth/hub02.keytab
    principal: HUB02$@CONTOSO.COM
    mech: kerberos
`))
	fmt.Println(err)
	c, err := exporter.ParseConfig("exporter.yaml", []byte(`modules:
  default:
    keytab: /etc/exauth/hub02.keytab
    principal: HUB02$@CONTOSO.COM
    timeout: 20s
`))
	fmt.Println(c.ModuleNames(), err)
	// Output:
	// exporter.yaml:5: modules.default.mech: unknown value "kerberos" (want auto, exchangeauth, gssapi (or xexps) or auth)
	// [default] <nil>
}

// Probe runs one probe as a scrape would, here against the bundled
// healthy scenario started in-process; Handler serves the same as
// /probe?module=default&target=...&connect=....
func ExampleExporter_Probe() {
	sc, err := scenarios.Bundled("healthy")
	if err != nil {
		fmt.Println(err)
		return
	}
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lab.Close()
	s, err := lab.ProbeSettings()
	if err != nil {
		fmt.Println(err)
		return
	}
	files, _ := lab.Files() // written by ProbeSettings
	config := filepath.Join(files.Dir, "exporter.yaml")
	modules := fmt.Sprintf("modules:\n  default:\n    krb5_conf: %s\n    keytab: %s\n    principal: %s\n    ca_file: %s\n    ehlo: %s\n",
		s.Credentials.Krb5Conf, s.Credentials.Keytab, s.Credentials.Principal, s.CAFile, s.EHLO)
	if err := os.WriteFile(config, []byte(modules), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	x, err := exporter.New(exporter.Options{ConfigFile: config})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := x.Probe(context.Background(), exporter.ProbeRequest{Target: s.Host, Connect: s.Connect})
	if err != nil {
		fmt.Println(err)
		return
	}
	as, tgs := x.KerberosStats()
	fmt.Println(r.Verdict, r.Severity, as, tgs)
	// Output: ok ok 1 1
}

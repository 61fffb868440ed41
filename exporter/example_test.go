package exporter_test

import (
	"fmt"

	"github.com/exauth/exauth/exporter"
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

package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/verdict"
)

// URL targets probe Client Access servers with the plan's shared
// credentials, beside host targets.
func TestExecute_URLTargets(t *testing.T) {
	kdc, err := fakekdc.Start(fakekdc.Config{Realm: "LAB.TEST", Accounts: []fakekdc.Account{
		{Name: "CAS01$", SPNs: []string{"HTTP/cas01.lab.test"}},
		{Name: "CAS02$", SPNs: []string{"HTTP/cas02.lab.test"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer kdc.Close()
	now := time.Now()
	ca, err := fakeserver.NewCA("exauth test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"cas02.lab.test"}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	kt02, err := kdc.Keytab("CAS02$", 0)
	if err != nil {
		t.Fatal(err)
	}
	good, err := fakecas.Start(fakecas.Config{Host: "cas02.lab.test", Certificate: &cert, Keytab: kt02})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	ntlm, err := fakecas.Start(fakecas.Config{Host: "cas02.lab.test", Certificate: &cert, Keytab: kt02, Providers: []fakecas.Provider{fakecas.ProviderNTLM}})
	if err != nil {
		t.Fatal(err)
	}
	defer ntlm.Close()
	dir := t.TempDir()
	kt01, err := kdc.Keytab("CAS01$", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kt01.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"krb5.conf": kdc.Krb5Conf(), "cas01.keytab": b, "ca.pem": ca.PEM()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plan := fmt.Sprintf(`defaults:
  krb5_conf: krb5.conf
  keytab: cas01.keytab
  principal: CAS01$@LAB.TEST
  ca_file: ca.pem
targets:
  - url: https://cas02.lab.test/owa
    connect: %s
    expect: ok
  - name: ntlm-only
    url: https://cas02.lab.test/EWS/Exchange.asmx
    connect: %s
    expect: ntlm-only
`, good.Addr(), ntlm.Addr())
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(plan), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	run := Execute(context.Background(), p, Options{Concurrency: 2})
	if !run.AllMet() || len(run.Results) != 2 || run.Results[0].Verdict != verdict.VerdictOK {
		for _, r := range run.Results {
			t.Logf("%s: expect %s got %s (%s)", r.Target, r.Expect, r.Verdict, r.Summary)
		}
		t.Fatal("URL targets did not meet their expectations")
	}
}

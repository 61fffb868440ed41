package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakecas/castest"
	"github.com/exauth/exauth/verdict"
)

// URL targets probe Client Access servers with the plan's shared
// credentials, beside host targets.
func TestExecute_URLTargets(t *testing.T) {
	env := castest.New(t, "HTTP/cas02.lab.test")
	good := env.Start(t, fakecas.Config{}, false)
	ntlm := env.Start(t, fakecas.Config{Providers: []fakecas.Provider{fakecas.ProviderNTLM}}, false)
	plan := fmt.Sprintf(`defaults:
  krb5_conf: %s
  keytab: %s
  principal: %s
  ca_file: %s
targets:
  - url: https://cas02.lab.test/owa
    connect: %s
    expect: ok
  - name: ntlm-only
    url: https://cas02.lab.test/EWS/Exchange.asmx
    connect: %s
    expect: ntlm-only
`, env.Krb5Conf, env.ClientKeytab, env.Principal, env.CAFile, good.Addr(), ntlm.Addr())
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(plan), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	run := Execute(context.Background(), p, Options{Concurrency: 2})
	if !run.AllMet() || len(run.Results) != 2 || run.Results[0].Verdict != verdict.VerdictOK || run.Results[0].URL != "https://cas02.lab.test/owa" {
		for _, r := range run.Results {
			t.Logf("%s: expect %s got %s (%s)", r.Target, r.Expect, r.Verdict, r.Summary)
		}
		t.Fatal("URL targets did not meet their expectations")
	}
}

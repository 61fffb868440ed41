package check

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/internal/yamlfile"
	"github.com/exauth/exauth/verdict"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lab is a fake KDC and n fake receive connectors hub001..hubNNN, with the
// krb5.conf and client keytab a plan points at.
type lab struct {
	dir   string
	kdc   *fakekdc.KDC
	hubs  []*fakeserver.Server
	hosts []string
}

func startLab(tb testing.TB, n int) *lab {
	tb.Helper()
	l := &lab{dir: tb.TempDir()}
	accounts := []fakekdc.Account{{Name: "HUB02$", Password: "client-password", KVNO: 2}}
	for i := 1; i <= n; i++ {
		host := fmt.Sprintf("hub%03d.lab.test", i)
		l.hosts = append(l.hosts, host)
		accounts = append(accounts, fakekdc.Account{Name: fmt.Sprintf("HUB%03d$", i), Password: "svc-" + host, KVNO: 3, SPNs: []string{"SMTPSVC/" + host}})
	}
	kdc, err := fakekdc.Start(fakekdc.Config{Realm: "LAB.TEST", Accounts: accounts})
	if err != nil {
		tb.Fatal(err)
	}
	l.kdc = kdc
	tb.Cleanup(func() { kdc.Close() })
	os.WriteFile(filepath.Join(l.dir, "krb5.conf"), kdc.Krb5Conf(), 0o644)
	kt, _ := kdc.Keytab("HUB02$", 0)
	b, _ := kt.Marshal()
	os.WriteFile(filepath.Join(l.dir, "client.keytab"), b, 0o600)
	for i, host := range l.hosts {
		skt, err := kdc.Keytab(fmt.Sprintf("HUB%03d$", i+1), 0)
		if err != nil {
			tb.Fatal(err)
		}
		hub, err := fakeserver.Start(fakeserver.Config{Host: host, Capabilities: []string{"SIZE 37748736", "X-EXPS GSSAPI NTLM"},
			Authenticator: &fakeserver.KerberosAcceptor{Keytab: skt}})
		if err != nil {
			tb.Fatal(err)
		}
		l.hubs = append(l.hubs, hub)
		tb.Cleanup(func() { hub.Close() })
	}
	return l
}

// plan writes a plan with perHost targets on each hub plus scenario targets.
func (l *lab) plan(tb testing.TB, perHost int, scenarioTargets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: test lab\ndefaults:\n  krb5_conf: krb5.conf\n  keytab: client.keytab\n  principal: HUB02$@LAB.TEST\n  tls: none\n  timeout: 10s\ntargets:\n")
	for i, host := range l.hosts {
		for j := 0; j < perHost; j++ {
			fmt.Fprintf(&b, "  - name: %s-%d\n    host: %s\n    connect: %s\n    expect: ok\n", host, j, host, l.hubs[i].Addr())
		}
	}
	for _, s := range scenarioTargets {
		fmt.Fprintf(&b, "  - scenario: %s\n", s)
	}
	path := filepath.Join(l.dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

var tenScenarios = []string{"healthy", "clock-skew", "client-clock-skew", "missing-spn", "duplicate-spn",
	"stale-key", "etype-mismatch", "kdc-unreachable", "verbs-stripped", "untrusted-cert"}

func TestExecute_MixedPlan(t *testing.T) {
	l := startLab(t, 3)
	p, err := LoadPlan(l.plan(t, 2, tenScenarios))
	if err != nil {
		t.Fatal(err)
	}
	run := Execute(context.Background(), p, Options{Concurrency: 4})
	if len(run.Results) != 16 || !run.AllMet() {
		for _, r := range run.Results {
			t.Logf("%s: expect %s got %s (%s)", r.Target, r.Expect, r.Verdict, r.Summary)
		}
		t.Fatalf("%d results, %d failed", len(run.Results), run.Failed)
	}
	// Shared credentials: one login, one TGS per SPN, for 6 host targets.
	if len(run.Kerberos) != 1 || run.Kerberos[0].AS != 1 || run.Kerberos[0].TGS != 3 {
		t.Errorf("Kerberos use %+v, want 1 AS and 3 TGS", run.Kerberos)
	}
	if st := l.kdc.Stats(); st.TGSRequests != 3 {
		t.Errorf("KDC saw %d TGS requests, want 3", st.TGSRequests)
	}
}

func TestJUnit_Structure(t *testing.T) {
	l := startLab(t, 1)
	p, err := LoadPlan(l.plan(t, 1, []string{"healthy", "ntlm-only"}))
	if err != nil {
		t.Fatal(err)
	}
	// Make one target miss its expectation.
	p.Targets[2].Expect = Verdicts{verdict.VerdictOK}
	run := Execute(context.Background(), p, Options{})
	var b strings.Builder
	if err := WriteJUnit(&b, run); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Time      string `xml:"time,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
				} `xml:"failure"`
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	if doc.Tests != 3 || doc.Failures != 1 || len(doc.Suites) != 1 || doc.Suites[0].Tests != 3 || doc.Suites[0].Failures != 1 || len(doc.Suites[0].Cases) != 3 {
		t.Fatalf("counts: %+v", doc)
	}
	var failures int
	for _, c := range doc.Suites[0].Cases {
		if c.Name == "" || c.Classname == "" || c.Time == "" || !strings.Contains(c.SystemOut, "verdict: ") {
			t.Errorf("incomplete testcase %+v", c)
		}
		if c.Failure != nil {
			failures++
			if c.Name != "ntlm-only" || c.Failure.Type != "ntlm-only" || !strings.Contains(c.Failure.Message, "NTLM") {
				t.Errorf("failure %+v", c)
			}
		}
	}
	if failures != 1 {
		t.Errorf("%d failure elements, want 1", failures)
	}
}

func TestCompare_ChangedRun(t *testing.T) {
	l := startLab(t, 2)
	p, err := LoadPlan(l.plan(t, 1, []string{"healthy"}))
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "before.json")
	if err := Save(saved, Execute(context.Background(), p, Options{})); err != nil {
		t.Fatal(err)
	}
	// The change: hub002 goes away.
	l.hubs[1].Close()
	after := Execute(context.Background(), p, Options{})
	before, err := LoadSaved(saved)
	if err != nil {
		t.Fatal(err)
	}
	changes := Compare(before, after)
	if len(changes) != 1 || changes[0].Target != "hub002.lab.test-0" || changes[0].Before != "ok" || changes[0].After != "connect-failed" || !changes[0].BeforeMet || changes[0].AfterMet {
		t.Fatalf("changes %+v", changes)
	}
	var b strings.Builder
	WriteChanges(&b, before, changes)
	if !strings.Contains(b.String(), "hub002.lab.test-0: ok -> connect-failed  <- broke") {
		t.Errorf("changes text:\n%s", b.String())
	}
}

func TestLoadPlan_Invalid(t *testing.T) {
	tests := map[string]struct {
		line  int
		field string
		msg   string
	}{
		"no-expect.yaml":                {2, "targets.0.expect", "required for a host target"},
		"unknown-verdict.yaml":          {3, "targets.0.expect", `unknown verdict "fine"`},
		"host-and-scenario.yaml":        {3, "targets.0.scenario", "either a host, a URL or a scenario"},
		"bad-url.yaml":                  {2, "targets.0.url", "want an https:// URL"},
		"unknown-scenario.yaml":         {2, "targets.0.scenario", "no bundled scenario"},
		"bad-timeout.yaml":              {2, "", "bad duration"},
		"unknown-field.yaml":            {2, "", `unknown field "colour"`},
		"no-targets.yaml":               {1, "targets", "at least one target"},
		"duplicate-name.yaml":           {4, "targets.1.name", "used twice"},
		"bad-mech.yaml":                 {2, "defaults.mech", `unknown value "ntlm"`},
		"bad-ldap.yaml":                 {2, "defaults.ldap", `want auto, off, or ldaps:// or ldap:// URLs`},
		"keytab-without-principal.yaml": {1, "defaults.principal", "need a principal"},
		"bad-host.yaml":                 {2, "targets.0.host", "not a HOST[:PORT]"},
		"scenario-with-connect.yaml":    {2, "targets.0.scenario", "brings its own"},
		"not-a-mapping.yaml":            {1, "", "a plan is a mapping"},
		"bad-cred.yaml":                 {1, "defaults.cred", `unknown value "kerberos"`},
	}
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) != len(tests) {
		t.Errorf("%d files, %d expectations", len(files), len(tests))
	}
	for _, f := range files {
		want := tests[filepath.Base(f)]
		_, err := LoadPlan(f)
		var ye *yamlfile.Error
		if !errors.As(err, &ye) || ye.Line != want.line || ye.Field != want.field || !strings.Contains(ye.Msg, want.msg) {
			t.Errorf("%s: got %v (line %d field %q), want line %d field %q msg %q", f, err, lineOf(ye), fieldOf(ye), want.line, want.field, want.msg)
		}
	}
}

func lineOf(e *yamlfile.Error) int {
	if e == nil {
		return -1
	}
	return e.Line
}

func fieldOf(e *yamlfile.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

func TestSamplePlanRuns(t *testing.T) {
	p, err := LoadPlan("../examples/lab-plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := Execute(context.Background(), p, Options{Concurrency: 8})
	if !run.AllMet() {
		for _, r := range run.Results {
			if !r.Met {
				t.Errorf("%s: expect %s got %s (%s)", r.Target, r.Expect, r.Verdict, r.Summary)
			}
		}
	}
}

// BenchmarkCheck runs plans of 100, 250 and 500 targets (fake connectors on
// loopback, 50 hubs) at concurrency 50, reporting wall time per target (flat
// means linear growth), the Kerberos exchanges and the peak heap.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{100, 250, 500} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			l := startLab(b, 50)
			p, err := LoadPlan(l.plan(b, n/50, nil))
			if err != nil {
				b.Fatal(err)
			}
			var run *Run
			var peak uint64
			for b.Loop() {
				stop := sampleHeap(&peak)
				run = Execute(context.Background(), p, Options{Concurrency: 50})
				stop()
				if !run.AllMet() {
					b.Fatalf("%d targets failed", run.Failed)
				}
			}
			b.ReportMetric(run.DurationMS, "wall-ms")
			b.ReportMetric(run.DurationMS/float64(n), "ms/target")
			b.ReportMetric(float64(run.Kerberos[0].AS), "AS")
			b.ReportMetric(float64(run.Kerberos[0].TGS), "TGS")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// sampleHeap records the largest HeapInuse seen until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > *peak {
				*peak = ms.HeapInuse
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func FuzzParsePlan(f *testing.F) {
	b, _ := os.ReadFile("../examples/lab-plan.yaml")
	f.Add(b)
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan("fuzz.yaml", data)
		if err != nil {
			var ye *yamlfile.Error
			if !errors.As(err, &ye) {
				t.Fatalf("error is not a *yamlfile.Error: %v", err)
			}
			return
		}
		if len(p.Targets) == 0 {
			t.Fatal("accepted a plan without targets")
		}
	})
}

// cred: sspi is the Windows logon session: elsewhere it is refused, naming
// the key, and on Windows the credential keys it replaces are refused.
func TestLoadPlan_CredSSPI(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte("defaults: {cred: sspi, keytab: hub02.keytab}\ntargets:\n  - {host: hub01.lab.test, expect: ok}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPlan(plan)
	want := "does not apply with cred: sspi"
	if runtime.GOOS != "windows" {
		want = "sspi is the Windows logon session"
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want one containing %q", err, want)
	}
}

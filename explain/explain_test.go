package explain

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/exauth/exauth/verdict"
)

type corpusEntry struct {
	Text   string `yaml:"text"`
	Lang   string `yaml:"lang"`
	Source string `yaml:"source"`
	Expect string `yaml:"expect"`
	Note   string `yaml:"note"`
}

func loadCorpus(t testing.TB) []corpusEntry {
	b, err := os.ReadFile("testdata/corpus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c []corpusEntry
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCorpus runs every real string of testdata/corpus.yaml. A miss on a
// non-unknown verdict is a precision bug; the test reports precision.
func TestCorpus(t *testing.T) {
	corpus := loadCorpus(t)
	langs := map[string]bool{}
	var confident, correct int
	for i, e := range corpus {
		if e.Source == "" || e.Lang == "" {
			t.Errorf("entry %d has no source or language", i)
		}
		if !verdict.Verdict(e.Expect).Valid() {
			t.Errorf("entry %d: unknown expected verdict %q", i, e.Expect)
			continue
		}
		langs[e.Lang] = true
		got := Explain(e.Text)
		if got.Verdict != verdict.VerdictUnknown {
			confident++
			if string(got.Verdict) == e.Expect {
				correct++
			}
		}
		if string(got.Verdict) != e.Expect {
			t.Errorf("entry %d (%s): got %s, want %s\n  text: %.200s\n  summary: %s", i, e.Lang, got.Verdict, e.Expect, e.Text, got.Summary)
		}
	}
	if len(corpus) < 80 || len(langs) < 8 {
		t.Errorf("corpus has %d strings in %d languages; want at least 80 in 8", len(corpus), len(langs))
	}
	t.Logf("corpus: %d strings, %d languages; precision on confident verdicts %d/%d", len(corpus), len(langs), correct, confident)
}

func TestExplain_UnwrapsAndReportsCodes(t *testing.T) {
	r := Explain(`451 4.4.0 Primary target IP address responded with: „454 4.7.0 Temporary authentication failure.“ Attempted failover to alternate host, but that did not succeed.`)
	if r.Verdict != verdict.VerdictAuthTemporaryFailure || r.InnerReply == nil || r.InnerReply.Code != 454 || r.InnerReply.Enhanced != "4.7.0" || r.Outer == nil || r.Outer.Enhanced != "4.4.0" {
		t.Fatalf("got %s inner %v outer %v", r.Verdict, r.InnerReply, r.Outer)
	}
	r = Explain("451 4.4.397 Error communicating with target host. -> 421 4.2.1 Unable to connect -> SocketError: Connection refused")
	if r.Verdict != verdict.VerdictConnectFailed || r.InnerReply.Enhanced != "4.2.1" {
		t.Fatalf("2013 chain: got %s inner %v", r.Verdict, r.InnerReply)
	}
}

// TestExplain_JoinsFormatListWrap: Get-Queue | fl breaks LastError at the
// console width, here inside the inner reply; the reply must read whole.
func TestExplain_JoinsFormatListWrap(t *testing.T) {
	value := `[{LRT=2017/01/05 12:05:59};{LED=451 4.4.0 Primary target IP address responded with: "454 4.7.0 Temporary authentication failure." Attempted failover to alternate host, but that did not succeed.};{FQDN=hub01.contoso.com};{IP=10.0.0.11}]`
	for _, width := range []int{100, 102, 109} {
		var b strings.Builder
		b.WriteString("LastError : ")
		for i := 0; i < len(value); i += width {
			if i > 0 {
				b.WriteString("\r\n" + strings.Repeat(" ", len("LastError : ")))
			}
			b.WriteString(value[i:min(i+width, len(value))])
		}
		r := Explain(b.String())
		if r.Verdict != verdict.VerdictAuthTemporaryFailure || r.InnerReply == nil || r.InnerReply.String() != "454 4.7.0 Temporary authentication failure." {
			t.Errorf("width %d: got %s, inner %v\n%s", width, r.Verdict, r.InnerReply, b.String())
		}
	}
}

func TestExplain_UnrelatedInputIsUnknown(t *testing.T) {
	for _, s := range []string{
		"250 2.6.0 <abc@hub01> [InternalId=1] Queued mail for delivery",
		"Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
		"\x00\x01\x02\xff\xfe binary",
		strings.Repeat("lorem ipsum 12345 ", 600000), // ~10 MB
	} {
		if r := Explain(s); r.Verdict != verdict.VerdictUnknown {
			t.Errorf("%.40q: got %s", s, r.Verdict)
		}
	}
}

func FuzzExplain(f *testing.F) {
	for _, e := range loadCorpus(f) {
		f.Add(e.Text)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := Explain(s)
		if !r.Verdict.Valid() {
			t.Fatalf("invalid verdict %q", r.Verdict)
		}
	})
}

// BenchmarkExplain10MB measures lines per second on a 10 MB paste.
func BenchmarkExplain10MB(b *testing.B) {
	var sb strings.Builder
	lines := 0
	for sb.Len() < 10<<20-4096 {
		sb.WriteString("2026-11-23T12:00:00.000Z,HUB01\\Default HUB01,08DE000000000001,9,10.0.0.11:25,10.0.0.12:41234,<,EHLO hub02.lab.test,\n")
		lines++
	}
	sb.WriteString(`451 4.4.0 Primary target IP address responded with: "454 4.7.0 Temporary authentication failure."` + "\n")
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		if r := Explain(text); r.Verdict != verdict.VerdictAuthTemporaryFailure {
			b.Fatalf("got %s", r.Verdict)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// TestSeeds: the source documents of the project (Exchange event pages and
// KB 979174, kept in testdata/seeds). The Swedish KB 979174 (whose title is
// the reply itself) is the transport failure itself;
// the OWA/EWS proxy events (71, 43) are Client Access proxying, not
// server-to-server SMTP authentication, so exauth must not claim a
// transport verdict for them.
func TestSeeds(t *testing.T) {
	want := map[string]verdict.Verdict{
		"000_fd14b60ccf4ab9d7.txt": verdict.VerdictUnknown,              // de: MSExchange OWA 71, proxy auth between CAS
		"001_ee5138d0c42e0eb0.txt": verdict.VerdictUnknown,              // zh: the same event
		"002_8d90b35cc5febda0.txt": verdict.VerdictUnknown,              // fr: EWS proxy auth between CAS
		"003_b67e60b80b1f2811.txt": verdict.VerdictUnknown,              // zh: OWA 43 ProxyErrorSslTrustFailure
		"004_15888d4f839ddf65.txt": verdict.VerdictAuthTemporaryFailure, // sv: KB 979174
	}
	for name, v := range want {
		b, err := os.ReadFile("testdata/seeds/" + name)
		if err != nil {
			t.Fatal(err)
		}
		r := Explain(string(b))
		if r.Verdict != v {
			t.Errorf("%s: got %s, want %s (%s)", name, r.Verdict, v, r.Summary)
		}
		if v == verdict.VerdictAuthTemporaryFailure && (r.InnerReply == nil || r.InnerReply.String() != "454 4.7.0 Tillfälligt autentiseringsfel i Exchange Server") {
			t.Errorf("%s: inner reply %v", name, r.InnerReply)
		}
	}
}

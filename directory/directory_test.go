package directory

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/go-ldap/ldap/v3"
)

func acct(dn, sam string, spns ...string) Account {
	return Account{DN: dn, SAMAccountName: sam, SPNs: spns}
}

func TestFindDuplicates(t *testing.T) {
	hub01 := acct("CN=HUB01,CN=Computers,DC=lab,DC=test", "HUB01$", "SMTPSVC/hub01.lab.test", "HOST/hub01")
	hub02 := acct("CN=HUB02,CN=Computers,DC=lab,DC=test", "HUB02$", "SMTPSVC/hub02.lab.test")
	rogue := acct("CN=rogue,CN=Users,DC=lab,DC=test", "rogue", "smtpsvc/HUB01.lab.test", "HTTP/mail.lab.test")
	web := acct("CN=web,CN=Users,DC=lab,DC=test", "web", "http/MAIL.lab.test", "HOST/hub01")
	tests := []struct {
		name     string
		accounts []Account
		classes  []string
		want     map[string][]string // SPN → sAMAccountNames
	}{
		{"none", []Account{hub01, hub02}, nil, map[string][]string{}},
		{"empty input", nil, nil, map[string][]string{}},
		{"case-insensitive SPN", []Account{hub01, hub02, rogue}, nil, map[string][]string{"SMTPSVC/hub01.lab.test": {"HUB01$", "rogue"}}},
		{"several, sorted by SPN", []Account{web, rogue, hub01}, nil, map[string][]string{
			"HTTP/mail.lab.test": {"rogue", "web"}, "SMTPSVC/hub01.lab.test": {"HUB01$", "rogue"}}},
		{"other classes ignored", []Account{hub01, web}, nil, map[string][]string{}},
		{"class asked for", []Account{hub01, web}, []string{"host"}, map[string][]string{"HOST/hub01": {"HUB01$", "web"}}},
		{"restricted classes", []Account{web, rogue, hub01}, []string{"HTTP"}, map[string][]string{"HTTP/mail.lab.test": {"rogue", "web"}}},
		{"same account twice counts once", []Account{hub01, hub01}, nil, map[string][]string{}},
		{"one account, SPN twice in two cases", []Account{acct("CN=x", "x", "SMTP/a", "smtp/A")}, nil, map[string][]string{}},
		{"SPN without slash", []Account{acct("CN=a", "a", "SMTPSVC"), acct("CN=b", "b", "SMTPSVC")}, nil, map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FindDuplicates(tt.accounts, tt.classes)
			if got == nil {
				t.Fatal("nil result: want an empty list (JSON [])")
			}
			m := map[string][]string{}
			var order []string
			for _, d := range got {
				order = append(order, strings.ToLower(d.SPN))
				for _, a := range d.Accounts {
					m[d.SPN] = append(m[d.SPN], a.SAMAccountName)
				}
			}
			if !reflect.DeepEqual(m, tt.want) {
				t.Errorf("FindDuplicates = %v, want %v", m, tt.want)
			}
			for i := 1; i < len(order); i++ {
				if order[i-1] > order[i] {
					t.Errorf("not sorted by SPN: %v", order)
				}
			}
		})
	}
}

func TestFilters(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"plain", holderFilter("SMTPSVC/hub01.lab.test"), "(servicePrincipalName=SMTPSVC/hub01.lab.test)"},
		{"star is a character", holderFilter("SMTPSVC/*"), `(servicePrincipalName=SMTPSVC/\2a)`},
		{"injection", holderFilter("x/y)(objectClass=*"), `(servicePrincipalName=x/y\29\28objectClass=\2a)`},
		{"backslash and NUL", holderFilter("a/b\\c\x00"), `(servicePrincipalName=a/b\5cc\00)`},
		{"one class", classFilter([]string{"SMTPSVC"}), "(servicePrincipalName=SMTPSVC/*)"},
		{"classes", classFilter(DefaultClasses()), "(|(servicePrincipalName=SMTPSVC/*)(servicePrincipalName=SMTP/*)(servicePrincipalName=HTTP/*))"},
		{"class escaped", classFilter([]string{"a)(b"}), `(servicePrincipalName=a\29\28b/*)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
			if _, err := ldap.CompileFilter(tt.got); err != nil {
				t.Errorf("%s does not compile: %v", tt.got, err)
			}
		})
	}
}

func TestCheckSPNAndClass(t *testing.T) {
	for _, s := range []string{"SMTPSVC/hub01", "HTTP/mail.lab.test:443", "MSSQLSvc/db/inst"} {
		if err := checkSPN(s); err != nil {
			t.Errorf("checkSPN(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "SMTPSVC", "/hub01", "SMTPSVC/", "SMTPSVC/hub\n01"} {
		if err := checkSPN(s); err == nil {
			t.Errorf("checkSPN(%q) accepted", s)
		}
	}
	for _, s := range []string{"", "*", "A/B", "A\tB"} {
		if err := checkClass(s); err == nil {
			t.Errorf("checkClass(%q) accepted", s)
		}
	}
}

func TestParseAttributes(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	i := func(v int) *int { return &v }
	tests := []struct {
		name       string
		attrs      map[string][]string
		wantErr    bool
		disabled   bool
		kvno       *int
		enc        *uint32
		encNames   []string
		spns, memb []string
	}{
		{name: "empty entry", spns: []string{}},
		{name: "enabled computer", attrs: map[string][]string{"userAccountControl": {"4096"}, "msDS-KeyVersionNumber": {"3"}}, kvno: i(3), spns: []string{}},
		{name: "disabled computer", attrs: map[string][]string{"userAccountControl": {"4098"}}, disabled: true, spns: []string{}},
		{name: "negative UAC with bit 1", attrs: map[string][]string{"userAccountControl": {"-2147483646"}}, disabled: true, spns: []string{}},
		{name: "AES only", attrs: map[string][]string{"msDS-SupportedEncryptionTypes": {"24"}}, enc: u(24), encNames: []string{"aes128-cts-hmac-sha1-96", "aes256-cts-hmac-sha1-96"}, spns: []string{}},
		{name: "RC4+AES+SK", attrs: map[string][]string{"msDS-SupportedEncryptionTypes": {"60"}}, enc: u(60), encNames: []string{"rc4-hmac", "aes128-cts-hmac-sha1-96", "aes256-cts-hmac-sha1-96", "aes256-cts-hmac-sha1-96-sk"}, spns: []string{}},
		{name: "enctype zero", attrs: map[string][]string{"msDS-SupportedEncryptionTypes": {"0"}}, enc: u(0), encNames: []string{}, spns: []string{}},
		{name: "enctype bit 31 as negative", attrs: map[string][]string{"msDS-SupportedEncryptionTypes": {"-2147483648"}}, enc: u(1 << 31), encNames: []string{"0x80000000"}, spns: []string{}},
		{name: "spns and groups", attrs: map[string][]string{"servicePrincipalName": {"SMTPSVC/a", "HOST/a"}, "memberOf": {"CN=Exchange Servers,OU=Microsoft Exchange Security Groups,DC=lab,DC=test"}},
			spns: []string{"SMTPSVC/a", "HOST/a"}, memb: []string{"CN=Exchange Servers,OU=Microsoft Exchange Security Groups,DC=lab,DC=test"}},
		{name: "bad UAC", attrs: map[string][]string{"userAccountControl": {"lots"}}, wantErr: true},
		{name: "UAC too large", attrs: map[string][]string{"userAccountControl": {"99999999999"}}, wantErr: true},
		{name: "bad kvno", attrs: map[string][]string{"msDS-KeyVersionNumber": {"-1"}}, wantErr: true},
		{name: "bad enctypes", attrs: map[string][]string{"msDS-SupportedEncryptionTypes": {"0x18"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseEntry(ldap.NewEntry("CN=HUB01,CN=Computers,DC=lab,DC=test", tt.attrs))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Disabled != tt.disabled || !reflect.DeepEqual(a.KeyVersion, tt.kvno) || !reflect.DeepEqual(a.SupportedEncryptionTypes, tt.enc) {
				t.Errorf("got disabled=%v kvno=%v enc=%v", a.Disabled, a.KeyVersion, a.SupportedEncryptionTypes)
			}
			if !reflect.DeepEqual(a.EncryptionTypeNames(), tt.encNames) {
				t.Errorf("enctype names %q, want %q", a.EncryptionTypeNames(), tt.encNames)
			}
			if !reflect.DeepEqual(a.SPNs, tt.spns) || !reflect.DeepEqual(a.MemberOf, tt.memb) {
				t.Errorf("spns %q memberOf %q", a.SPNs, a.MemberOf)
			}
		})
	}
}

func TestEncTypeNames(t *testing.T) {
	tests := []struct {
		mask uint32
		want []string
	}{
		{0, []string{}},
		{0x4, []string{"rc4-hmac"}},
		{0x1f, []string{"des-cbc-crc", "des-cbc-md5", "rc4-hmac", "aes128-cts-hmac-sha1-96", "aes256-cts-hmac-sha1-96"}},
		{0x10018, []string{"aes128-cts-hmac-sha1-96", "aes256-cts-hmac-sha1-96", "fast-supported"}},
		{0x140, []string{"0x40", "0x100"}},
	}
	for _, tt := range tests {
		if got := EncTypeNames(tt.mask); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("EncTypeNames(0x%x) = %q, want %q", tt.mask, got, tt.want)
		}
	}
}

type noKerberos struct{}

func (noKerberos) SASLClient(context.Context, string) (sasl.Client, error) {
	return nil, errors.New("unused")
}

func TestConfigValidation(t *testing.T) {
	krb := Bind{Kerberos: noKerberos{}}
	simple := Bind{Method: BindSimple, DN: "CN=reader,CN=Users,DC=lab,DC=test", Password: "secret-pw"}
	tests := []struct {
		name      string
		cfg       Config
		field     string // "" = valid
		wantAddr  string
		mentioned string
	}{
		{name: "ldap default port", cfg: Config{URL: "ldap://dc1.lab.test", Bind: krb}, wantAddr: "dc1.lab.test:389"},
		{name: "ldaps default port", cfg: Config{URL: "LDAPS://dc1.lab.test", Bind: krb}, wantAddr: "dc1.lab.test:636"},
		{name: "explicit port", cfg: Config{URL: "ldaps://dc1.lab.test:3269/", Bind: simple}, wantAddr: "dc1.lab.test:3269"},
		{name: "IPv6", cfg: Config{URL: "ldap://[::1]", Bind: krb}, wantAddr: "[::1]:389"},
		{name: "connect", cfg: Config{URL: "ldaps://dc1.lab.test", Connect: "127.0.0.89:636", Bind: krb}, wantAddr: "127.0.0.89:636"},
		{name: "simple over ldap refused", cfg: Config{URL: "ldap://dc1.lab.test", Bind: simple}, field: "Bind", mentioned: "ldaps://"},
		{name: "simple without password", cfg: Config{URL: "ldaps://dc1.lab.test", Bind: Bind{Method: BindSimple, DN: "x"}}, field: "Bind"},
		{name: "kerberos without credentials", cfg: Config{URL: "ldaps://dc1.lab.test"}, field: "Bind"},
		{name: "unknown method", cfg: Config{URL: "ldaps://dc1.lab.test", Bind: Bind{Method: 7}}, field: "Bind"},
		{name: "no URL", cfg: Config{Bind: krb}, field: "URL"},
		{name: "http URL", cfg: Config{URL: "http://dc1.lab.test", Bind: krb}, field: "URL"},
		{name: "bare host", cfg: Config{URL: "dc1.lab.test", Bind: krb}, field: "URL"},
		{name: "no host", cfg: Config{URL: "ldap://", Bind: krb}, field: "URL"},
		{name: "DN in URL", cfg: Config{URL: "ldap://dc1/DC=lab,DC=test", Bind: krb}, field: "URL"},
		{name: "credentials in URL", cfg: Config{URL: "ldaps://u:p@dc1", Bind: krb}, field: "URL"},
		{name: "bad URL", cfg: Config{URL: "ldap://dc1:port:x", Bind: krb}, field: "URL"},
		{name: "control characters", cfg: Config{URL: "ldap://dc1\n", Bind: krb}, field: "URL"},
		{name: "bad connect", cfg: Config{URL: "ldap://dc1", Connect: "127.0.0.1", Bind: krb}, field: "Connect"},
		{name: "negative timeout", cfg: Config{URL: "ldap://dc1", Timeout: -time.Second, Bind: krb}, field: "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := tt.cfg.validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if ep.addr != tt.wantAddr {
					t.Errorf("addr %s, want %s", ep.addr, tt.wantAddr)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError on %s", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.mentioned) {
				t.Errorf("%v does not mention %q", err, tt.mentioned)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("the error shows the password: %v", err)
			}
			// Dial refuses the same Config before any network traffic.
			if _, derr := Dial(context.Background(), tt.cfg); !errors.As(derr, &ce) {
				t.Errorf("Dial: %v, want the ConfigError", derr)
			}
		})
	}
}

func TestBindStringHidesPassword(t *testing.T) {
	b := Bind{Method: BindSimple, DN: "CN=r", Password: "secret-pw"}
	for _, s := range []string{b.String(), b.GoString()} {
		if strings.Contains(s, "secret-pw") {
			t.Errorf("%q shows the password", s)
		}
	}
}

func TestDialUnreachableIsBounded(t *testing.T) {
	// A listener that accepts and never answers: the RootDSE read must
	// end at the step timeout, not hang.
	ln := silentListener(t)
	start := time.Now()
	_, err := Dial(context.Background(), Config{URL: "ldap://" + ln.Addr().String(), Bind: Bind{Kerberos: noKerberos{}}, Timeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("Dial succeeded against a silent server")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial took %s with a 300ms step timeout", d)
	}
}

func TestDialCancelled(t *testing.T) {
	ln := silentListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, Config{URL: "ldap://" + ln.Addr().String(), Bind: Bind{Kerberos: noKerberos{}}, Timeout: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

func TestDomainControllersRefusesBadDomain(t *testing.T) {
	for _, d := range []string{"", " ", "a b", "x/y"} {
		if _, err := DomainControllers(context.Background(), nil, d); err == nil {
			t.Errorf("DomainControllers(%q) accepted", d)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"", "0", "24", "-1", "4096", "99999999999", "x"} {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, uac, kvno, enc string) {
		a, err := parseEntry(ldap.NewEntry("CN=x", map[string][]string{
			"userAccountControl": {uac}, "msDS-KeyVersionNumber": {kvno}, "msDS-SupportedEncryptionTypes": {enc},
		}))
		if err == nil && a.SupportedEncryptionTypes != nil {
			_ = a.EncryptionTypeNames()
		}
	})
}

func TestKDCHost(t *testing.T) {
	for in, want := range map[string]string{
		"dc1.contoso.com":     "dc1.contoso.com",
		"tcp/10.0.0.5:88":     "10.0.0.5",
		"udp/dc1.contoso.com": "dc1.contoso.com",
		"[2001:db8::5]:88":    "2001:db8::5",
		"2001:db8::5":         "2001:db8::5",
		"":                    "",
	} {
		if got := kdcHost(in); got != want {
			t.Errorf("kdcHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServersWithoutDomain(t *testing.T) {
	got, err := Servers(context.Background(), nil, "", "tcp/[2001:db8::5]:88")
	if err != nil || len(got) != 1 || got[0] != "ldaps://[2001:db8::5]" {
		t.Errorf("Servers = %v, %v; want [ldaps://[2001:db8::5]]", got, err)
	}
	if _, err := Servers(context.Background(), nil, "", ""); err == nil {
		t.Error("Servers with nothing to start from: want an error")
	}
	if _, err := DialFirst(context.Background(), Config{}, nil); err == nil {
		t.Error("DialFirst with no URL: want an error")
	}
}

// silentListener accepts connections and never answers, until the test
// ends.
func silentListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln
}

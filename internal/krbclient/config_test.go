package krbclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
)

func TestLoadKrb5Conf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.conf", "[libdefaults]\n default_realm = LAB.TEST\n udp_preference_limit = 1\n[realms]\n LAB.TEST = {\n  kdc = dc1.lab.test\n  kdc = 10.0.0.2:8888\n }\n")
	v4 := write("v4.conf", "[libdefaults]\n default_realm = LAB.TEST\n[realms]\n LAB.TEST = {\n  kdc = dc1.lab.test\n  v4_instance_convert = {\n   x = y\n  }\n }\n")
	broken := write("broken.conf", "[libdefaults]\n udp_preference_limit = lots\n")
	brokenRealm := write("broken-realm.conf", "[realms]\n LAB.TEST = {\n  kdc dc1\n }\n")

	c, err := LoadKrb5Conf(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.LibDefaults.DefaultRealm != "LAB.TEST" || c.LibDefaults.UDPPreferenceLimit != 1 {
		t.Errorf("libdefaults = %+v", c.LibDefaults)
	}
	if got := realmKDCs(c, "LAB.TEST"); strings.Join(got, " ") != "dc1.lab.test:88 10.0.0.2:8888" {
		t.Errorf("kdcs = %v, want krb5.conf order", got)
	}
	if _, err := LoadKrb5Conf(v4); err != nil {
		t.Errorf("unsupported directives should be ignored: %v", err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope.conf"), "does not exist"},
		{"directory", dir, "is a directory"},
		{"bad value", broken, "cannot be parsed"},
		{"bad realm", brokenRealm, "cannot be parsed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKrb5Conf(tc.path)
			cerr, ok := errorsAs[*ConfigError](err)
			if !ok || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) || cerr.Hint == "" {
				t.Fatalf("err = %v, want a ConfigError naming %s: %s", err, tc.path, tc.want)
			}
		})
	}
	if os.Geteuid() != 0 {
		unreadable := write("unreadable.conf", "")
		os.Chmod(unreadable, 0)
		if _, err := LoadKrb5Conf(unreadable); !isType[*ConfigError](err) || !strings.Contains(err.Error(), "not readable") {
			t.Errorf("unreadable: %v", err)
		}
	}
}

func TestDefaultKrb5Conf(t *testing.T) {
	t.Setenv("KRB5_CONFIG", "")
	if got := DefaultKrb5Conf(nil); got != "/etc/krb5.conf" {
		t.Errorf("got %q", got)
	}
	t.Setenv("KRB5_CONFIG", "/tmp/a.conf:/etc/krb5.conf")
	if got := DefaultKrb5Conf(nil); got != "/tmp/a.conf" {
		t.Errorf("got %q", got)
	}
}

func TestConfigFor(t *testing.T) {
	c := ConfigFor("LAB.TEST", "dc1.lab.test")
	if c.LibDefaults.DefaultRealm != "LAB.TEST" || c.LibDefaults.DNSLookupKDC {
		t.Errorf("libdefaults = %+v", c.LibDefaults)
	}
	if got := realmKDCs(c, "LAB.TEST"); len(got) != 1 || got[0] != "dc1.lab.test" {
		t.Errorf("kdcs = %v", got)
	}
	if c := ConfigFor("LAB.TEST", ""); !c.LibDefaults.DNSLookupKDC || len(c.Realms) != 0 {
		t.Errorf("without a KDC: %+v", c)
	}
}

func TestParseKDC(t *testing.T) {
	for _, tc := range []struct {
		in, addr, only string
		ok             bool
	}{
		{"dc1.lab.test", "dc1.lab.test:88", "", true},
		{"dc1.lab.test:8888", "dc1.lab.test:8888", "", true},
		{"dc1.lab.test:88*", "dc1.lab.test:88", "", true},
		{"10.0.0.1", "10.0.0.1:88", "", true},
		{"::1", "[::1]:88", "", true},
		{"[::1]", "[::1]:88", "", true},
		{"[::1]:750", "[::1]:750", "", true},
		{"tcp/dc1.lab.test", "dc1.lab.test:88", TCP, true},
		{"UDP/dc1.lab.test:88", "dc1.lab.test:88", UDP, true},
		{"", "", "", false},
		{"tcp/", "", "", false},
		{":88", "", "", false},
		{"a:b:c", "", "", false},
	} {
		k, err := parseKDC(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (k.addr != tc.addr || k.only != tc.only)) {
			t.Errorf("parseKDC(%q) = %+v, %v", tc.in, k, err)
		}
	}
}

func TestDecodeReply(t *testing.T) {
	kerr := krbError(t, errorcode.KRB_AP_ERR_SKEW, t0, nil)
	for _, tc := range []struct {
		name, kind string
		b          []byte
		wantErr    string
	}{
		{"KRB-ERROR to AS", KindAS, kerr, ""},
		{"KRB-ERROR to TGS", KindTGS, kerr, ""},
		{"empty", KindAS, nil, "empty reply"},
		{"HTTP", KindAS, []byte("HTTP/1.0 200 OK"), "not a Kerberos reply"},
		{"AS-REP to TGS", KindTGS, []byte{0x6b, 0}, "AS-REP in answer to a TGS-REQ"},
		{"TGS-REP to AS", KindAS, []byte{0x6d, 0}, "TGS-REP in answer to an AS-REQ"},
		{"bad AS-REP", KindAS, []byte{0x6b, 0x02, 0x30, 0x00}, "malformed AS-REP"},
		{"bad TGS-REP", KindTGS, []byte{0x6d, 0x82, 0xff}, "malformed TGS-REP"},
		{"KRB-ERROR tag, AP-REP inside", KindAS, []byte{0x7e, 0x02, 0x30, 0x00}, "malformed KRB-ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeReply(tc.kind, tc.b)
			if tc.wantErr == "" {
				if err != nil || r.krbErr == nil || r.krbErr.ErrorCode != errorcode.KRB_AP_ERR_SKEW {
					t.Fatalf("decodeReply = %+v, %v", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestKDCTimeKeepsMicroseconds(t *testing.T) {
	var m messages.KRBError
	if err := m.Unmarshal(krbError(t, 37, t0.Add(123456*time.Microsecond), nil)); err != nil {
		t.Fatal(err)
	}
	if got := kdcTime(&m); !got.Equal(t0.Add(123456 * time.Microsecond)) {
		t.Errorf("kdcTime = %v", got)
	}
}

// On Windows, krb5.conf is MIT Kerberos for Windows' krb5.ini.
func TestPlatformKrb5Conf(t *testing.T) {
	env := map[string]string{"ProgramData": `D:\PD`, "windir": `C:\WINDOWS`}
	getenv := func(k string) string { return env[k] }
	none := func(string) bool { return false }
	if got := platformKrb5Conf("windows", getenv, none); got != `D:\PD\MIT\Kerberos5\krb5.ini` {
		t.Errorf("windows, nothing there: %q", got)
	}
	onlyWindir := func(p string) bool { return p == `C:\WINDOWS\krb5.ini` }
	if got := platformKrb5Conf("windows", getenv, onlyWindir); got != `C:\WINDOWS\krb5.ini` {
		t.Errorf("windows, krb5.ini in windir: %q", got)
	}
	if got := platformKrb5Conf("linux", getenv, none); got != "/etc/krb5.conf" {
		t.Errorf("linux: %q", got)
	}
}

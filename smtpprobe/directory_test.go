package smtpprobe_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

func TestSettings_LDAP(t *testing.T) {
	for _, c := range []struct {
		ldap    string
		wantDir bool
		urls    []string
		wantErr bool
	}{
		{"", false, nil, false},
		{"off", false, nil, false},
		{"auto", true, nil, false},
		{"ldaps://dc1.lab.test", true, []string{"ldaps://dc1.lab.test"}, false},
		{"LDAP://dc1.lab.test:389", true, []string{"LDAP://dc1.lab.test:389"}, false},
		{"ldaps://dc1.lab.test, ldaps://dc2.lab.test", true, []string{"ldaps://dc1.lab.test", "ldaps://dc2.lab.test"}, false},
		{"ldaps://dc1.lab.test,dc2", false, nil, true},
		{"ldaps://", false, nil, true},
		{"dc1.lab.test", false, nil, true},
		{"https://dc1.lab.test", false, nil, true},
	} {
		cfg, err := smtpprobe.Settings{Host: "hub01.lab.test", LDAP: c.ldap, LDAPInsecureSkipVerify: true}.Config(nil, nil)
		var fe *smtpprobe.FieldError
		if c.wantErr {
			if !errors.As(err, &fe) || fe.Field != "LDAP" {
				t.Errorf("LDAP %q: err %v, want a FieldError on LDAP", c.ldap, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("LDAP %q: %v", c.ldap, err)
			continue
		}
		if (cfg.Directory != nil) != c.wantDir {
			t.Errorf("LDAP %q: directory %+v, want set=%v", c.ldap, cfg.Directory, c.wantDir)
			continue
		}
		if d := cfg.Directory; d != nil && (!slices.Equal(d.URLs, c.urls) || !d.InsecureSkipVerify) {
			t.Errorf("LDAP %q: %+v, want URLs %v and InsecureSkipVerify", c.ldap, d, c.urls)
		}
	}
}

// A directory that cannot be read is evidence and changes no verdict; a
// probe that passes never asks it.
func TestProbe_DirectoryUnreadable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close() // a port nobody listens on: connection refused at once
	for _, c := range []struct {
		scenario string
		want     verdict.Verdict
		read     bool
	}{
		{"missing-spn", verdict.VerdictSPNUnknown, true},
		{"stale-key", verdict.VerdictKeyMismatch, true},
		{"healthy", verdict.VerdictOK, false},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			env := scenariotest.Start(t, c.scenario)
			cfg := env.Probe
			cfg.Directory = &smtpprobe.DirectorySettings{URLs: []string{"ldap://" + refused}}
			r := smtpprobe.Probe(context.Background(), cfg)
			if r.Verdict != c.want {
				t.Fatalf("verdict %s, want %s: %s", r.Verdict, c.want, r.Summary)
			}
			if !c.read {
				if r.Directory != nil {
					t.Errorf("directory read for %s: %+v", c.want, r.Directory)
				}
				return
			}
			if r.Directory == nil || r.Directory.Err == "" || r.Directory.Server != "ldap://"+refused {
				t.Fatalf("directory %+v; want the refused server and its error", r.Directory)
			}
			if !slices.ContainsFunc(r.Evidence, func(e string) bool { return strings.HasPrefix(e, "the directory could not be read") }) {
				t.Errorf("no evidence line for the unreadable directory: %q", r.Evidence)
			}
		})
	}
}

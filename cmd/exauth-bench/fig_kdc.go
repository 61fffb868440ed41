package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"

	"github.com/exauth/exauth/internal/interop/mitrealm"
	"github.com/exauth/exauth/internal/krbclient"
)

// kdcClientConf is the krb5.conf the load generator uses against either
// KDC: one realm, one KDC, aes256-cts-hmac-sha1-96 only, and the transport
// the lab's own krb5.conf chooses (udp_preference_limit = 1: TCP), or UDP.
func kdcClientConf(addr string, udp bool) (*config.Config, error) {
	limit := 1
	if udp {
		limit = 1465
	}
	return config.NewFromString(fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 udp_preference_limit = %[3]d
 noaddresses = true
 ticket_lifetime = 10h
 default_tkt_enctypes = aes256-cts-hmac-sha1-96
 default_tgs_enctypes = aes256-cts-hmac-sha1-96
 permitted_enctypes = aes256-cts-hmac-sha1-96

[realms]
 %[1]s = {
  kdc = %[2]s
 }
`, labRealm, addr, limit))
}

// kdcOp is one AS+TGS: a fresh krbclient.Client (nothing cached) logs in
// from the keytab — AS-REQ, KDC_ERR_PREAUTH_REQUIRED, AS-REQ with
// PA-ENC-TIMESTAMP, AS-REP — and asks for the SPN's ticket (TGS).
func kdcOp(conf *config.Config, creds krbclient.Credentials) (int, error) {
	c, err := krbclient.New(krbclient.Config{Krb5: conf}, creds)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.ServiceTicket(ctx, labSPN)
	if err != nil {
		return 0, err
	}
	if st.EType != etypeID.AES256_CTS_HMAC_SHA1_96 {
		return 0, fmt.Errorf("ticket etype %d, want aes256", st.EType)
	}
	return len(c.Exchanges()), nil
}

// mitKDC is an MIT krb5kdc realm in a temporary directory, built as the
// interop tests build theirs (internal/mitrealm), with aes256 keys only.
type mitKDC struct {
	*mitrealm.Realm
	dir, addr, keytab string
	once              sync.Once
	unregister        func()
}

// startMIT creates the realm, the client and the service principal with
// aes256 keys only, and starts krb5kdc (with -w workers when above 1).
func startMIT(workers int) (*mitKDC, error) {
	dir, err := os.MkdirTemp("", "exauth-bench-mit-")
	if err != nil {
		return nil, err
	}
	m := &mitKDC{dir: dir}
	port, err := freePort()
	if err != nil {
		m.stop()
		return nil, err
	}
	m.addr = fmt.Sprintf("127.0.0.1:%d", port)
	const aes = "aes256-cts-hmac-sha1-96"
	m.Realm, err = mitrealm.Create(mitrealm.Options{Realm: labRealm, Dir: dir, Addr: m.addr, Enctypes: []string{aes}})
	if err != nil {
		m.stop()
		return nil, err
	}
	m.keytab = filepath.Join(dir, "client.keytab")
	for _, q := range []string{
		// Active Directory requires pre-authentication; so does this realm.
		"addprinc -randkey +requires_preauth -e " + aes + ":normal " + labClient,
		"addprinc -randkey -e " + aes + ":normal " + labSPN,
	} {
		if _, err := m.Kadmin(q); err != nil {
			m.stop()
			return nil, err
		}
	}
	if err := m.Ktadd(m.keytab, labClient, "-e", aes+":normal"); err != nil {
		m.stop()
		return nil, err
	}
	var args []string
	if workers > 1 {
		args = []string{"-w", strconv.Itoa(workers)}
	}
	if err := m.Start(args...); err != nil {
		m.stop()
		return nil, err
	}
	m.unregister = onExit(m.stop)
	return m, nil
}

func (m *mitKDC) stop() { m.once.Do(m.doStop) }

func (m *mitKDC) doStop() {
	if m.unregister != nil {
		m.unregister()
	}
	if m.Realm != nil {
		m.Realm.Stop()
	}
	os.RemoveAll(m.dir)
}

// kdcSide is the AS+TGS load against one KDC, after one checked
// exchange; n is the number of KDC requests one AS+TGS took.
func kdcSide(name, addr, keytab string, udp bool, cpu func() time.Duration) (sd side, n int, err error) {
	conf, err := kdcClientConf(addr, udp)
	if err != nil {
		return sd, 0, err
	}
	creds, err := krbclient.FromKeytab(keytab, labPrincipal)
	if err != nil {
		return sd, 0, err
	}
	if n, err = kdcOp(conf, creds); err != nil {
		return sd, 0, err
	}
	return side{name, func(int) error { _, err := kdcOp(conf, creds); return err }, cpu}, n, nil
}

func figKDC() row {
	r := row{figure: fmt.Sprintf("fake KDC: AS+TGS exchanges/s (aes256, TCP), %d clients", opts.clients), target: "≥ 1.00×"}
	for _, t := range [][2]string{{"/usr/sbin/krb5kdc", "krb5-kdc"}, {"/usr/sbin/kdb5_util", "krb5-kdc"}, {"/usr/sbin/kadmin.local", "krb5-admin-server"}} {
		if ok, why := haveTool(t[0], t[1]); !ok {
			r.skipped = why
			return r
		}
	}
	ours, err := startChild("kdc", "fig3-ours")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer ours.stop()
	mit, err := startMIT(opts.mitWorkers)
	if err != nil {
		r.failed = "MIT realm: " + err.Error()
		return r
	}
	defer mit.stop()
	sdOurs, nOurs, err := kdcSide("ours", ours.ready.KDC, ours.ready.Keytab, false, groupCPU(ours.pid()))
	if err != nil {
		r.failed = "fake KDC: " + err.Error()
		return r
	}
	sdBase, nBase, err := kdcSide("baseline", mit.addr, mit.keytab, false, groupCPU(mit.PID()))
	if err != nil {
		r.failed = "MIT krb5kdc: " + err.Error()
		return r
	}
	res := runPaired(opts.clients, "fig3", sdOurs, sdBase)
	resOurs, resBase := res[0], res[1]
	r.ours = fmt.Sprintf("%.0f AS+TGS/s", resOurs.rate())
	r.baseline = fmt.Sprintf("%.0f AS+TGS/s (krb5kdc)", resBase.rate())
	r.ratio, r.hasRatio = resOurs.rate()/resBase.rate(), true
	r.passed = r.ratio >= 1.0 && resOurs.errs == 0
	workers := "single process"
	if opts.mitWorkers > 1 {
		workers = fmt.Sprintf("-w %d", opts.mitWorkers)
	}
	r.notes = append(r.notes, "ours: "+resOurs.String(), "baseline: "+resBase.String(),
		fmt.Sprintf("each AS+TGS is a fresh krbclient.Client from a keytab: %d requests seen by the fake KDC, %d by MIT (AS with PA-ENC-TIMESTAMP from the keytab at once, then TGS), one TCP connection per request", nOurs, nBase),
		fmt.Sprintf("krb5kdc %s, db2 with lockout and last-success updates off (its fastest configuration)", workers))
	if c0, c1 := resOurs.cpuPerOp(), resBase.cpuPerOp(); c0 > 0 && c1 > 0 {
		r.notes = append(r.notes, fmt.Sprintf("server CPU per AS+TGS: %s vs krb5kdc %s (%.2f×)", us(c0), us(c1), float64(c0)/float64(c1)))
	}
	return r
}

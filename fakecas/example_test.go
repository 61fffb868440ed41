package fakecas_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
)

// ExampleStart plays CAS02 for CAS01's proxied OWA request: a fake KDC
// holds both computer accounts, CAS02 serves /owa with CAS02$'s keytab,
// and CAS01$ authenticates with Negotiate (gokrb5's SPNEGO HTTP client).
func ExampleStart() {
	kdc, err := fakekdc.Start(fakekdc.Config{
		Realm: "LAB.TEST",
		Accounts: []fakekdc.Account{
			{Name: "CAS01$", Password: "cas01-password", SPNs: []string{"HTTP/cas01.lab.test"}},
			{Name: "CAS02$", Password: "cas02-password", SPNs: []string{"HTTP/cas02.lab.test"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer kdc.Close()

	now := time.Now()
	ca, err := fakeserver.NewCA("lab CA", now, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := ca.Issue([]string{"cas02.lab.test"}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	kt, err := kdc.Keytab("CAS02$", 0)
	if err != nil {
		log.Fatal(err)
	}
	cas, err := fakecas.Start(fakecas.Config{Host: "cas02.lab.test", Certificate: &cert, Keytab: kt})
	if err != nil {
		log.Fatal(err)
	}
	defer cas.Close()

	cfg, err := config.NewFromString(string(kdc.Krb5Conf()))
	if err != nil {
		log.Fatal(err)
	}
	cas01kt, err := kdc.Keytab("CAS01$", 0)
	if err != nil {
		log.Fatal(err)
	}
	cl := client.NewWithKeytab("CAS01$", kdc.Realm(), cas01kt, cfg)
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		log.Fatal(err)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
		// cas02.lab.test need not resolve: dial the fake.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, cas.Addr())
		},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	resp, err := hc.Get(cas.URL() + "/owa")
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Values("WWW-Authenticate"), resp.Header.Get("Server"))

	resp, err = spnego.NewClient(cl, hc, "HTTP/cas02.lab.test").Get(cas.URL() + "/owa")
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 401 [Negotiate NTLM] Microsoft-IIS/10.0
	// 200
}

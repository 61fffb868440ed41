package krbclient_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exauth/exauth/internal/krbclient"
)

// A probe logs in from a keytab, as `kinit -k -t` would, and asks for the
// receiving hub's SMTPSVC ticket, keeping every KDC error typed.
func ExampleClient_ServiceTicket() {
	krb5, err := krbclient.LoadKrb5Conf(krbclient.DefaultKrb5Conf(nil))
	if err != nil {
		fmt.Println(err) // a *krbclient.ConfigError with a hint
		return
	}
	creds, err := krbclient.FromKeytab("/etc/exauth/hub02.keytab", "HUB02$@LAB.TEST")
	if err != nil {
		fmt.Println(err) // a *krbclient.CredentialsError: verdict no-credentials
		return
	}
	c, err := krbclient.New(krbclient.Config{Krb5: krb5, StepTimeout: 5 * time.Second}, creds)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.ServiceTicket(ctx, "SMTPSVC/hub01.lab.test")
	var kerr *krbclient.KDCError
	var unreachable *krbclient.UnreachableError
	switch {
	case errors.As(err, &kerr):
		fmt.Printf("KDC said %s; KDC clock %v ahead of ours\n", kerr.Code.String(), kerr.ClockOffset())
	case errors.As(err, &unreachable):
		for _, a := range unreachable.Attempts {
			fmt.Println(a) // "dc1.lab.test:88/tcp refused"
		}
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Printf("ticket kvno %d etype %d\n", st.KVNO, st.EType)
	}
	for _, ex := range c.Exchanges() {
		if off, ok := ex.ClockOffset(); ok {
			fmt.Printf("%s via %s/%s: KDC clock %+v\n", ex.Kind, ex.KDC, ex.Transport, off)
		}
	}
}

// A ccache from kinit works when it is a FILE ccache; other types name the fix.
func ExampleFromCCache() {
	_, err := krbclient.FromCCache("KEYRING:persistent:1000")
	var cerr *krbclient.CredentialsError
	if errors.As(err, &cerr) {
		fmt.Println(cerr.Hint)
	}
	// Output: exauth reads FILE ccaches only: run `KRB5CCNAME=FILE:/tmp/krb5cc_exauth kinit NAME@REALM` and use that file, or a keytab
}

// --realm and --kdc without a krb5.conf.
func ExampleConfigFor() {
	c, err := krbclient.New(krbclient.Config{Krb5: krbclient.ConfigFor("LAB.TEST", "dc1.lab.test")},
		krbclient.FromPassword("HUB02$", "from --password-file"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Principal())
	// Output: HUB02$@LAB.TEST
}

// When the exchange fails, Reachability says which port is blocked how.
func ExampleReachability() {
	for _, a := range krbclient.Reachability(context.Background(), "LAB.TEST", []string{"dc1.lab.test"}, 2*time.Second) {
		fmt.Printf("%s/%s answered=%v refused=%v timed-out=%v\n", a.Addr, a.Transport, a.Err == nil, a.Refused, a.TimedOut)
	}
}

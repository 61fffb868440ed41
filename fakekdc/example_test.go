package fakekdc_test

import (
	"fmt"
	"log"

	"github.com/exauth/exauth/fakekdc"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
)

// ExampleStartKDC starts a fake KDC for a two-hub lab, logs the sending hub
// in with gokrb5 from its exported keytab, and asks for the receiving hub's
// SMTPSVC ticket, as the probe does.
func ExampleStart() {
	kdc, err := fakekdc.Start(fakekdc.Config{
		Realm: "LAB.TEST",
		Accounts: []fakekdc.Account{
			{Name: "HUB02$", Password: "hub02-password"},
			{Name: "HUB01$", Password: "hub01-password", KVNO: 3, SPNs: []string{"SMTPSVC/hub01.lab.test"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer kdc.Close()

	cfg, err := config.NewFromString(string(kdc.Krb5Conf()))
	if err != nil {
		log.Fatal(err)
	}
	kt, err := kdc.Keytab("HUB02$", 0)
	if err != nil {
		log.Fatal(err)
	}
	cl := client.NewWithKeytab("HUB02$", kdc.Realm(), kt, cfg)
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		log.Fatal(err)
	}
	tkt, _, err := cl.GetServiceTicket("SMTPSVC/hub01.lab.test")
	if err != nil {
		log.Fatal(err)
	}
	s := kdc.Stats()
	fmt.Printf("ticket for %s, kvno %d\n", tkt.SName.PrincipalNameString(), tkt.EncPart.KVNO)
	fmt.Printf("AS-REQs %d (the first answered PREAUTH_REQUIRED), TGS-REQs %d\n", s.ASRequests, s.TGSRequests)
	// Output:
	// ticket for SMTPSVC/hub01.lab.test, kvno 3
	// AS-REQs 2 (the first answered PREAUTH_REQUIRED), TGS-REQs 1
}

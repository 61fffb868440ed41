package gssapi_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Example authenticates HUB02$ to hub01's X-EXPS acceptor, then shows the
// acceptor refusing the same kind of token once its clock runs seven
// minutes ahead.
func Example() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	kt := keytab.New()
	if err := kt.AddEntry("SMTPSVC/hub01.lab.test", "LAB.TEST", "hub01-secret", now, 3, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		panic(err)
	}
	// The KDC's part, done here without a KDC.
	client := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "HUB02$")
	service := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "SMTPSVC/hub01.lab.test")
	ticket, sessionKey, err := messages.NewTicket(client, "LAB.TEST", service, "LAB.TEST", types.NewKrbFlags(), kt,
		etypeID.AES256_CTS_HMAC_SHA1_96, 3, now, now, now.Add(10*time.Hour), now.Add(10*time.Hour))
	if err != nil {
		panic(err)
	}

	for _, ahead := range []time.Duration{0, 7 * time.Minute} {
		c, err := gssapi.NewClient(gssapi.ClientConfig{
			Ticket: ticket, SessionKey: sessionKey, Client: client, Realm: "LAB.TEST",
			Clock: clock.NewFake(now), Mode: gssapi.ModeExchange, Mutual: true,
		})
		if err != nil {
			panic(err)
		}
		s, err := gssapi.NewServer(gssapi.ServerConfig{
			Keytab: kt, Service: "SMTPSVC/hub01.lab.test",
			Clock: clock.Offset{Base: clock.NewFake(now), By: ahead}, Mode: gssapi.ModeExchange,
		})
		if err != nil {
			panic(err)
		}
		// > X-EXPS GSSAPI
		challenge, _, _ := s.Next(nil)
		fmt.Printf("334 %q\n", challenge)
		// > <base64 token>
		_, token, _ := c.Start()
		apRep, done, err := s.Next(token)
		var ae *gssapi.AcceptError
		if errors.As(err, &ae) {
			fmt.Printf("454 4.7.0 reason=%s code=%d skew=%v temporary=%v\n", ae.Reason, ae.Code, ae.Skew, ae.Temporary())
			continue
		}
		// < 235 2.7.0 <base64 AP-REP>
		if _, err := c.Next(apRep); err != nil {
			panic(err)
		}
		fmt.Printf("235 done=%v principal=%s mutual=%v\n", done, s.Principal(), c.Mutual())
	}
	// Output:
	// 334 ""
	// 235 done=true principal=HUB02$@LAB.TEST mutual=true
	// 334 ""
	// 454 4.7.0 reason=skew code=37 skew=-7m0s temporary=true
}

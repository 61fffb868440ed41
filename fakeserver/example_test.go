package fakeserver_test

import (
	"fmt"
	"net/smtp"

	"github.com/exauth/exauth/fakeserver"
)

// A fake receive connector whose EHLO answer lost X-EXPS to a firewall's
// ESMTP inspection.
func ExampleStart() {
	hub, err := fakeserver.Start(fakeserver.Config{
		Host:   "hub01.lab.test",
		Faults: fakeserver.Faults{MaskVerbs: []string{"X-EXPS"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hub.Close()

	c, err := smtp.Dial(hub.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Hello("hub02.lab.test")
	ok, _ := c.Extension("X-EXPS")
	masked, _ := c.Extension("XXXXXXXXXXXXXXXXXA")
	fmt.Println(ok, masked)
	// Output: false true
}

package gssapi

import (
	"bytes"
	"errors"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/flags"
)

// TicketInfo is what an initiator's token shows about its service ticket
// without any key: the parts of an AP-REQ that travel in clear text.
type TicketInfo struct {
	Framing Framing
	// Service is the ticket's sname ("SMTPSVC/hub01.lab.test") and Realm
	// its realm.
	Service string
	Realm   string
	// EType is the etype the ticket is encrypted in, the service
	// account's long-term key type; KVNO its key version (nil when the
	// KDC left it out).
	EType int32
	KVNO  *int
	// Mutual is set when the AP-REQ asks for mutual authentication.
	Mutual bool
}

// ErrNTLMToken says an initiator's token is NTLM, not Kerberos: Windows'
// Negotiate package falls back to NTLM when it cannot get a ticket.
var ErrNTLMToken = errors.New("the token is NTLM, not Kerberos: Negotiate fell back to NTLM")

// ntlmSignature starts every NTLMSSP message.
var ntlmSignature = []byte("NTLMSSP\x00")

// InspectClientToken reads an initiator's first token (a raw AP-REQ, RFC
// 1964 or SPNEGO) as an acceptor would, and reports its ticket's clear
// text: a token built by another implementation (Windows SSPI) then gives
// the same evidence (etype, kvno) as one this package built. An NTLM
// token, bare or inside SPNEGO, is ErrNTLMToken.
func InspectClientToken(b []byte) (TicketInfo, error) {
	ct, err := parseClientToken(b)
	if err != nil && bytes.Contains(b, ntlmSignature) {
		return TicketInfo{}, ErrNTLMToken
	}
	if err != nil {
		return TicketInfo{}, err
	}
	t := ct.apReq.Ticket
	info := TicketInfo{
		Framing: ct.framing,
		Service: strings.Join(t.SName.NameString, "/"),
		Realm:   t.Realm,
		EType:   t.EncPart.EType,
		Mutual:  bitSet(ct.apReq.APOptions, flags.APOptionMutualRequired),
	}
	if t.EncPart.KVNO != 0 {
		kvno := t.EncPart.KVNO
		info.KVNO = &kvno
	}
	return info, nil
}

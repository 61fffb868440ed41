package fakekdc

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/krbkey"
)

// Error codes gokrb5 names only in its lookup table.
const (
	errResponseTooBig = errorcode.KRB_ERR_RESPONSE_TOO_BIG
	errFieldTooLong   = errorcode.KRB_ERR_FIELD_TOOLONG
)

// First octets of the two requests a KDC serves: DER identifiers of
// [APPLICATION 10] AS-REQ and [APPLICATION 12] TGS-REQ, constructed.
const (
	tagASReq  = 0x60 | asnAppTag.ASREQ
	tagTGSReq = 0x60 | asnAppTag.TGSREQ
)

// Event11Message is the text a Windows Server 2008+ domain controller logs
// as event 11 (source Microsoft-Windows-Kerberos-Key-Distribution-Center,
// KDCEVENT_NAME_NOT_UNIQUE) when a name it must resolve, such as an SPN, is
// on more than one account; the typo "occuring" is Microsoft's. Windows
// Server 2003 logged the shorter "There are multiple accounts with name
// SMTPSVC/hub01.lab.test of type DS_SERVICE_PRINCIPAL_NAME."
func Event11Message(spn string) string {
	return fmt.Sprintf("The KDC encountered duplicate names while processing a Kerberos authentication request. "+
		"The duplicate name is %s (of type DS_SERVICE_PRINCIPAL_NAME). "+
		"This may result in authentication failures or downgrades to NTLM. "+
		"In order to prevent this from occuring remove the duplicate entries for %s in Active Directory.", spn, spn)
}

// krbError is a KRB-ERROR a handler answers with: the code, the e-text and,
// for pre-authentication errors, the METHOD-DATA e-data.
type krbError struct {
	code  int32
	text  string
	edata []byte
}

func (e *krbError) Error() string { return errorcode.Lookup(e.code) + ": " + e.text }

func krbErr(code int32, format string, args ...any) *krbError {
	return &krbError{code: code, text: printableText(fmt.Sprintf(format, args...))}
}

// exchangeState is what one request has told the KDC so far, for its reply,
// its KRB-ERROR and its log line.
type exchangeState struct {
	kind   string    // "AS-REQ" or "TGS-REQ"
	now    time.Time // the KDC clock when the request arrived
	cname  types.PrincipalName
	crealm string
	sname  types.PrincipalName
}

func (x *exchangeState) String() string {
	c := "?"
	if len(x.cname.NameString) > 0 {
		c = x.cname.PrincipalNameString() + "@" + x.crealm
	}
	return printableText(fmt.Sprintf("%s %s -> %s", x.kind, c, x.sname.PrincipalNameString()))
}

// handle maps one request to its reply: an AS-REP, a TGS-REP or a KRB-ERROR.
// It returns nil when the bytes are not a Kerberos request at all, and the
// transport then drops them (UDP) or closes the connection (TCP): answering
// arbitrary datagrams would make the KDC a reflector. It touches no network
// and keeps no state besides the counters, so the fuzz test calls it
// directly.
func (k *KDC) handle(req []byte) []byte {
	x := &exchangeState{now: k.clock.Now().UTC()}
	if len(req) == 0 {
		k.nDropped.Add(1)
		return nil
	}
	var rep []byte
	var kerr *krbError
	switch req[0] {
	case tagASReq:
		x.kind = "AS-REQ"
		var r messages.ASReq
		if err := decodeRequest(r.Unmarshal, req); err != nil {
			kerr = krbErr(errorcode.KRB_ERR_GENERIC, "malformed AS-REQ")
			break
		}
		k.nAS.Add(1)
		rep, kerr = k.handleAS(x, &r)
	case tagTGSReq:
		x.kind = "TGS-REQ"
		var r tgsReq
		if err := decodeRequest(r.unmarshal, req); err != nil {
			kerr = krbErr(errorcode.KRB_ERR_GENERIC, "malformed TGS-REQ")
			break
		}
		k.nTGS.Add(1)
		rep, kerr = k.handleTGS(x, &r.TGSReq, r.rawBody)
	default:
		k.nDropped.Add(1)
		return nil
	}
	if kerr != nil {
		k.logf("KDC: %s: %s", x, kerr)
		return k.errorReply(x, kerr)
	}
	return rep
}

// handleAS answers an AS-REQ (RFC 4120 3.1). Like Active Directory, it
// requires encrypted-timestamp pre-authentication: the first request gets
// KDC_ERR_PREAUTH_REQUIRED with PA-ETYPE-INFO2 (which etype and salt to
// derive the key with), the second proves the key with PA-ENC-TIMESTAMP,
// which must lie within MaxSkew of the KDC clock.
func (k *KDC) handleAS(x *exchangeState, r *messages.ASReq) ([]byte, *krbError) {
	body := &r.ReqBody
	x.cname, x.crealm, x.sname = body.CName, body.Realm, body.SName
	if !strings.EqualFold(body.Realm, k.realm) {
		return nil, krbErr(errorcode.KDC_ERR_WRONG_REALM, "this KDC serves realm %s, not %s", k.realm, body.Realm)
	}
	client := k.dir.client(body.CName.PrincipalNameString())
	if client == nil {
		return nil, krbErr(errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, "client %s not found in the directory", body.CName.PrincipalNameString())
	}
	svc, kerr := k.service(x, body.SName)
	if kerr != nil {
		return nil, kerr
	}
	offered := commonETypes(body.EType, client.etypes)
	if len(offered) == 0 {
		return nil, krbErr(errorcode.KDC_ERR_ETYPE_NOSUPP, "client requested etypes %v; account %s has keys for %v",
			body.EType, client.name, client.etypes)
	}
	pa := findPA(r.PAData, patype.PA_ENC_TIMESTAMP)
	if pa == nil {
		kerr := krbErr(errorcode.KDC_ERR_PREAUTH_REQUIRED, "pre-authentication required")
		kerr.edata = k.preauthEData(client, offered)
		return nil, kerr
	}
	replyKey, kerr := k.verifyEncTimestamp(x, client, pa.PADataValue)
	if kerr != nil {
		if kerr.code == errorcode.KDC_ERR_PREAUTH_FAILED {
			kerr.edata = k.preauthEData(client, offered)
		}
		return nil, kerr
	}
	etype, ok := firstCommon(body.EType, svc.ticketETypes)
	if !ok {
		return nil, krbErr(errorcode.KDC_ERR_ETYPE_NOSUPP, "client requested etypes %v; %s takes tickets in %v", body.EType, svc.name, svc.ticketETypes)
	}

	now := x.now.Truncate(time.Second)
	end := now.Add(ticketLifetime)
	if timeSet(body.Till) && body.Till.Before(end) {
		end = body.Till
	}
	if !end.After(now) {
		return nil, krbErr(errorcode.KDC_ERR_NEVER_VALID, "requested end time %s is not after the KDC time %s", body.Till.UTC(), now)
	}
	tf := types.NewKrbFlags()
	types.SetFlag(&tf, flags.Initial)
	types.SetFlag(&tf, flags.PreAuthent)
	copyOption(&tf, body.KDCOptions, flags.Forwardable)
	copyOption(&tf, body.KDCOptions, flags.Proxiable)
	var renewTill time.Time
	if hasFlag(body.KDCOptions, flags.Renewable) || hasFlag(body.KDCOptions, flags.RenewableOK) {
		renewTill = now.Add(renewLifetime)
		limit := body.RTime // RFC 4120 3.1.3: renew-till no later than rtime...
		if !hasFlag(body.KDCOptions, flags.Renewable) {
			limit = body.Till // ...or, for RENEWABLE-OK, than the requested till.
		}
		if timeSet(limit) && limit.Before(renewTill) {
			renewTill = limit
		}
		if renewTill.After(end) {
			types.SetFlag(&tf, flags.Renewable)
		} else {
			renewTill = time.Time{}
		}
	}

	tkt, sessionKey, err := k.issueTicket(svc, etype, body.SName, messages.EncTicketPart{
		Flags:     tf,
		CRealm:    k.realm,
		CName:     body.CName,
		AuthTime:  now,
		StartTime: now,
		EndTime:   end,
		RenewTill: renewTill,
		CAddr:     body.Addresses,
	})
	if err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "issuing ticket: %v", err)
	}
	part := messages.EncKDCRepPart{
		Key:       sessionKey,
		LastReqs:  []messages.LastReq{{LRType: 0, LRValue: now}},
		Nonce:     body.Nonce,
		Flags:     tf,
		AuthTime:  now,
		StartTime: now,
		EndTime:   end,
		RenewTill: renewTill,
		SRealm:    k.realm,
		SName:     body.SName,
		CAddr:     body.Addresses,
	}
	encPart, err := seal(part, asnAppTag.EncASRepPart, replyKey, keyusage.AS_REP_ENCPART, client.kvno)
	if err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "sealing AS-REP: %v", err)
	}
	// PA-ETYPE-INFO2 in the AS-REP tells a password client the salt of the
	// reply key again (RFC 4120 5.2.7.5), so it need not guess it from the
	// name it typed.
	info, err := client.replyInfo(k.realm, replyKey.KeyType)
	if err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "encoding PA-ETYPE-INFO2: %v", err)
	}
	rep := messages.ASRep{KDCRepFields: messages.KDCRepFields{
		PVNO:    iana.PVNO,
		MsgType: msgtype.KRB_AS_REP,
		PAData:  types.PADataSequence{{PADataType: patype.PA_ETYPE_INFO2, PADataValue: info}},
		CRealm:  k.realm,
		CName:   body.CName,
		Ticket:  tkt,
		EncPart: encPart,
	}}
	b, err := rep.Marshal()
	if err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "encoding AS-REP: %v", err)
	}
	k.logf("KDC: %s: ticket issued (%s, kvno %d; reply key %s, kvno %d)",
		x, enctype.Name(etype), svc.kvno, enctype.Name(replyKey.KeyType), client.kvno)
	return b, nil
}

// verifyEncTimestamp checks PA-ENC-TIMESTAMP (RFC 4120 5.2.7.2): decrypted
// with the client's key of the etype it chose (key usage 1), it must hold a
// time within MaxSkew of the KDC clock. It returns the key, which also
// encrypts the AS-REP.
func (k *KDC) verifyEncTimestamp(x *exchangeState, client *dirAccount, value []byte) (*krbkey.Key, *krbError) {
	var ed types.EncryptedData
	if err := decodeRequest(ed.Unmarshal, value); err != nil {
		return nil, krbErr(errorcode.KDC_ERR_PREAUTH_FAILED, "malformed PA-ENC-TIMESTAMP")
	}
	key, ok := client.key(ed.EType)
	if !ok {
		return nil, krbErr(errorcode.KDC_ERR_PREAUTH_FAILED, "account %s has no %s key", client.name, enctype.Name(ed.EType))
	}
	plain, err := decryptPart(ed, key, keyusage.AS_REQ_PA_ENC_TIMESTAMP)
	if err != nil {
		return nil, krbErr(errorcode.KDC_ERR_PREAUTH_FAILED, "PA-ENC-TIMESTAMP does not decrypt with the %s key of %s (kvno %d): wrong password or stale keytab",
			enctype.Name(ed.EType), client.name, client.kvno)
	}
	var ts types.PAEncTSEnc
	if err := decodeRequest(ts.Unmarshal, plain); err != nil {
		return nil, krbErr(errorcode.KDC_ERR_PREAUTH_FAILED, "malformed PA-ENC-TS-ENC")
	}
	ctime := ts.PATimestamp.Add(time.Duration(ts.PAUSec) * time.Microsecond)
	if kerr := k.checkSkew(x, ctime); kerr != nil {
		return nil, kerr
	}
	return key, nil
}

// checkSkew answers KRB_AP_ERR_SKEW when a client's timestamp is more than
// MaxSkew from the KDC clock (RFC 4120 3.1.2, 3.3.2). The KRB-ERROR carries
// the KDC time in stime/susec, from which the client learns the offset.
func (k *KDC) checkSkew(x *exchangeState, clientTime time.Time) *krbError {
	d := clientTime.Sub(x.now)
	if d > k.maxSkew || -d > k.maxSkew {
		return krbErr(errorcode.KRB_AP_ERR_SKEW, "client time %s differs from KDC time %s by %s (allowed %s)",
			clientTime.UTC().Format(time.RFC3339), x.now.Format(time.RFC3339), d.Round(time.Second), k.maxSkew)
	}
	return nil
}

// handleTGS answers a TGS-REQ (RFC 4120 3.3): it decrypts the TGT in the
// PA-TGS-REQ AP-REQ with krbtgt's key, the authenticator with the TGT
// session key (key usage 7), checks the clock and the checksum over the
// request body, looks the requested name up among the SPNs, and issues a
// ticket under the owning account's current key and kvno.
func (k *KDC) handleTGS(x *exchangeState, r *messages.TGSReq, rawBody []byte) ([]byte, *krbError) {
	body := &r.ReqBody
	x.sname = body.SName
	pa := findPA(r.PAData, patype.PA_TGS_REQ)
	if pa == nil {
		return nil, krbErr(errorcode.KDC_ERR_PADATA_TYPE_NOSUPP, "TGS-REQ without PA-TGS-REQ")
	}
	var ap messages.APReq
	if err := decodeRequest(ap.Unmarshal, pa.PADataValue); err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "malformed AP-REQ in PA-TGS-REQ")
	}
	tgt, kerr := k.openTGT(&ap.Ticket)
	if kerr != nil {
		return nil, kerr
	}
	x.cname, x.crealm = tgt.CName, tgt.CRealm
	// The TGT's session key serves this request only; a krbkey.Key all the
	// same, so that one code path opens and seals.
	session, err := krbkey.New(tgt.Key)
	if err != nil {
		return nil, krbErr(errorcode.KRB_AP_ERR_BAD_INTEGRITY, "authenticator does not decrypt with the TGT session key")
	}
	authBytes, err := decryptPart(ap.EncryptedAuthenticator, session, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR)
	if err != nil {
		return nil, krbErr(errorcode.KRB_AP_ERR_BAD_INTEGRITY, "authenticator does not decrypt with the TGT session key")
	}
	var auth types.Authenticator
	if err := decodeRequest(auth.Unmarshal, authBytes); err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "malformed authenticator")
	}
	if !auth.CName.Equal(tgt.CName) || !strings.EqualFold(auth.CRealm, tgt.CRealm) {
		return nil, krbErr(errorcode.KRB_AP_ERR_BADMATCH, "authenticator client %s does not match TGT client %s",
			auth.CName.PrincipalNameString(), tgt.CName.PrincipalNameString())
	}
	if kerr := k.checkSkew(x, auth.CTime.Add(time.Duration(auth.Cusec)*time.Microsecond)); kerr != nil {
		return nil, kerr
	}
	if kerr := verifyBodyChecksum(auth.Cksum, tgt.Key, rawBody); kerr != nil {
		return nil, kerr
	}
	if !strings.EqualFold(body.Realm, k.realm) {
		return nil, krbErr(errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "no trust to realm %s", body.Realm)
	}
	now := x.now.Truncate(time.Second)
	if timeSet(tgt.StartTime) && tgt.StartTime.Sub(now) > k.maxSkew {
		return nil, krbErr(errorcode.KRB_AP_ERR_TKT_NYV, "TGT not valid before %s", tgt.StartTime.UTC())
	}

	renew := hasFlag(body.KDCOptions, flags.Renew)
	if !renew && now.Sub(tgt.EndTime) > k.maxSkew {
		return nil, krbErr(errorcode.KRB_AP_ERR_TKT_EXPIRED, "TGT expired at %s", tgt.EndTime.UTC())
	}
	svc, kerr := k.service(x, body.SName)
	if kerr != nil {
		return nil, kerr
	}
	etype, ok := firstCommon(body.EType, svc.ticketETypes)
	if !ok {
		return nil, krbErr(errorcode.KDC_ERR_ETYPE_NOSUPP, "client requested etypes %v; %s (account %s) takes tickets in %v",
			body.EType, body.SName.PrincipalNameString(), svc.name, svc.ticketETypes)
	}

	tf := types.NewKrbFlags()
	copyFlag(&tf, body.KDCOptions, tgt.Flags, flags.Forwardable)
	copyFlag(&tf, body.KDCOptions, tgt.Flags, flags.Proxiable)
	if hasFlag(tgt.Flags, flags.PreAuthent) {
		types.SetFlag(&tf, flags.PreAuthent)
	}
	var end, renewTill time.Time
	if renew {
		// RFC 4120 3.3.3.1: a renewal extends the presented ticket, up to
		// its renew-till.
		if !hasFlag(tgt.Flags, flags.Renewable) || now.After(tgt.RenewTill) {
			return nil, krbErr(errorcode.KDC_ERR_BADOPTION, "ticket is not renewable or past its renew-till")
		}
		end = minTime(now.Add(ticketLifetime), tgt.RenewTill)
		renewTill = tgt.RenewTill
		types.SetFlag(&tf, flags.Renewable)
	} else {
		end = minTime(now.Add(ticketLifetime), tgt.EndTime)
		if timeSet(body.Till) {
			end = minTime(end, body.Till)
		}
		if hasFlag(body.KDCOptions, flags.Renewable) && hasFlag(tgt.Flags, flags.Renewable) {
			renewTill = tgt.RenewTill
			if timeSet(body.RTime) {
				renewTill = minTime(renewTill, body.RTime)
			}
			if renewTill.After(end) {
				types.SetFlag(&tf, flags.Renewable)
			} else {
				renewTill = time.Time{}
			}
		}
	}
	if !end.After(now) {
		return nil, krbErr(errorcode.KDC_ERR_NEVER_VALID, "ticket would end at %s, before the KDC time %s", end, now)
	}

	tkt, sessionKey, err := k.issueTicket(svc, etype, body.SName, messages.EncTicketPart{
		Flags:             tf,
		CRealm:            tgt.CRealm,
		CName:             tgt.CName,
		AuthTime:          tgt.AuthTime,
		StartTime:         now,
		EndTime:           end,
		RenewTill:         renewTill,
		CAddr:             tgt.CAddr,
		AuthorizationData: tgt.AuthorizationData,
	})
	if err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "issuing ticket: %v", err)
	}
	// RFC 4120 5.4.2: the reply is sealed in the authenticator's subkey when
	// there is one (MIT always sends one; gokrb5 does not), else in the TGT
	// session key.
	replyKey, usage := session, uint32(keyusage.TGS_REP_ENCPART_SESSION_KEY)
	if len(auth.SubKey.KeyValue) > 0 {
		if replyKey, err = krbkey.New(auth.SubKey); err != nil {
			return nil, krbErr(errorcode.KRB_ERR_GENERIC, "sealing TGS-REP: %v", err)
		}
		usage = keyusage.TGS_REP_ENCPART_AUTHENTICATOR_SUB_KEY
	}
	part := messages.EncKDCRepPart{
		Key:       sessionKey,
		LastReqs:  []messages.LastReq{{LRType: 0, LRValue: tgt.AuthTime}},
		Nonce:     body.Nonce,
		Flags:     tf,
		AuthTime:  tgt.AuthTime,
		StartTime: now,
		EndTime:   end,
		RenewTill: renewTill,
		SRealm:    k.realm,
		SName:     body.SName,
		CAddr:     tgt.CAddr,
	}
	encPart, err := seal(part, asnAppTag.EncTGSRepPart, replyKey, usage, 0)
	if err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "sealing TGS-REP: %v", err)
	}
	rep := messages.TGSRep{KDCRepFields: messages.KDCRepFields{
		PVNO:    iana.PVNO,
		MsgType: msgtype.KRB_TGS_REP,
		CRealm:  tgt.CRealm,
		CName:   tgt.CName,
		Ticket:  tkt,
		EncPart: encPart,
	}}
	b, err := rep.Marshal()
	if err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "encoding TGS-REP: %v", err)
	}
	k.logf("KDC: %s: ticket issued with the key of account %s (%s, kvno %d)", x, svc.name, enctype.Name(etype), svc.kvno)
	return b, nil
}

// openTGT decrypts the ticket of a PA-TGS-REQ, which must be a TGT of this
// realm (sname krbtgt/REALM) under a key krbtgt has.
func (k *KDC) openTGT(t *messages.Ticket) (*messages.EncTicketPart, *krbError) {
	owners := k.dir.owners(t.SName.PrincipalNameString())
	krbtgt := k.dir.byName["krbtgt"]
	if len(owners) != 1 || owners[0] != krbtgt || !strings.EqualFold(t.Realm, k.realm) {
		return nil, krbErr(errorcode.KRB_AP_ERR_NOT_US, "ticket for %s@%s is not a TGT of %s", t.SName.PrincipalNameString(), t.Realm, k.realm)
	}
	kvno := t.EncPart.KVNO
	if kvno == 0 {
		kvno = krbtgt.kvno
	}
	key, ok := krbtgt.keys[kvno][t.EncPart.EType]
	if !ok {
		return nil, krbErr(errorcode.KRB_AP_ERR_BADKEYVER, "krbtgt has no %s key of kvno %d", enctype.Name(t.EncPart.EType), kvno)
	}
	plain, err := decryptPart(t.EncPart, key, keyusage.KDC_REP_TICKET)
	if err != nil {
		return nil, krbErr(errorcode.KRB_AP_ERR_BAD_INTEGRITY, "TGT does not decrypt with the krbtgt key")
	}
	var part messages.EncTicketPart
	if err := decodeRequest(part.Unmarshal, plain); err != nil {
		return nil, krbErr(errorcode.KRB_ERR_GENERIC, "malformed TGT")
	}
	return &part, nil
}

// service resolves a requested service name to the account whose key
// encrypts the ticket, applying Faults.DuplicateSPN when more than one
// account owns the name. Every duplicate is logged as KDC event 11, since
// the directory holds the duplicate whatever the KDC answers.
func (k *KDC) service(x *exchangeState, sname types.PrincipalName) (*dirAccount, *krbError) {
	name := sname.PrincipalNameString()
	owners := k.dir.owners(name)
	switch len(owners) {
	case 0:
		return nil, krbErr(errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server %s not found in the directory", name)
	case 1:
		return owners[0], nil
	}
	names := make([]string, len(owners))
	for i, a := range owners {
		names[i] = a.name
	}
	k.logf("KDC event 11: %s", Event11Message(printableText(name)))
	k.logf("KDC: %s is a servicePrincipalName of %s", printableText(name), strings.Join(names, ", "))
	switch k.faults.DuplicateSPN {
	case DuplicateSPNNotUnique:
		return nil, krbErr(errorcode.KDC_ERR_PRINCIPAL_NOT_UNIQUE, "server %s is on %d accounts: %s", name, len(owners), strings.Join(names, ", "))
	case DuplicateSPNWrongAccount:
		return owners[len(owners)-1], nil
	default:
		return nil, krbErr(errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "server %s not found in the directory (name not unique)", name)
	}
}

// issueTicket seals part, with a fresh session key, under the current key
// of svc (key usage 2). It assembles the ticket itself rather than calling
// messages.NewTicket, which wants a keytab entry under the requested name
// and leaves out the client addresses and authorization data.
func (k *KDC) issueTicket(svc *dirAccount, etype int32, sname types.PrincipalName, part messages.EncTicketPart) (messages.Ticket, types.EncryptionKey, error) {
	et, err := crypto.GetEtype(etype)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	sessionKey, err := types.GenerateEncryptionKey(et)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	part.Key = sessionKey
	b, err := asn1.Marshal(part)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncTicketPart)
	key, _ := svc.key(etype)
	ed, err := key.Encrypt(b, keyusage.KDC_REP_TICKET, svc.kvno)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	return messages.Ticket{TktVNO: iana.PVNO, Realm: k.realm, SName: sname, EncPart: ed}, sessionKey, nil
}

// seal encrypts a KDC reply's enc-part under the right application tag:
// 25 EncASRepPart or 26 EncTGSRepPart (RFC 4120 5.4.2). gokrb5's
// EncKDCRepPart.Marshal always uses 25; MIT accepts either, but a KDC
// should not rely on that.
func seal(part messages.EncKDCRepPart, tag int, key *krbkey.Key, usage uint32, kvno int) (types.EncryptedData, error) {
	b, err := asn1.Marshal(part)
	if err != nil {
		return types.EncryptedData{}, err
	}
	return key.Encrypt(asn1tools.AddASNAppTag(b, tag), usage, kvno)
}

// errorReply encodes a KRB-ERROR (RFC 4120 5.9.1). stime/susec are always
// the KDC clock: on KRB_AP_ERR_SKEW that is how a client learns the offset.
func (k *KDC) errorReply(x *exchangeState, kerr *krbError) []byte {
	k.nErrors.Add(1)
	e := messages.NewKRBError(x.sname, k.realm, kerr.code, kerr.text)
	e.STime = x.now.Truncate(time.Second)
	e.Susec = x.now.Nanosecond() / int(time.Microsecond/time.Nanosecond)
	e.EData = kerr.edata
	if len(x.cname.NameString) > 0 {
		e.CName, e.CRealm = x.cname, x.crealm
	}
	b, err := e.Marshal()
	if err != nil {
		// Names copied from a hostile request may not encode; the error
		// still must.
		e.CName, e.CRealm, e.SName = types.PrincipalName{}, "", types.PrincipalName{}
		if b, err = e.Marshal(); err != nil {
			return nil
		}
	}
	return b
}

// transportError is a KRB-ERROR about the framing rather than a request.
func (k *KDC) transportError(code int32, text string) []byte {
	return k.errorReply(&exchangeState{now: k.clock.Now().UTC()}, &krbError{code: code, text: text})
}

// preauthEData is the METHOD-DATA of KDC_ERR_PREAUTH_REQUIRED as Active
// Directory sends it: PA-ETYPE-INFO2 with one entry per etype both sides
// have, in the client's order of preference, and an empty PA-ENC-TIMESTAMP
// saying which method to use.
func (k *KDC) preauthEData(client *dirAccount, etypes []int32) []byte {
	info, err := k.etypeInfo2(client, etypes)
	if err != nil {
		return nil
	}
	b, err := asn1.Marshal(types.MethodData{
		{PADataType: patype.PA_ETYPE_INFO2, PADataValue: info},
		{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: []byte{}},
	})
	if err != nil {
		return nil
	}
	return b
}

// etypeInfo2 encodes PA-ETYPE-INFO2 (RFC 4120 5.2.7.5) for the account's
// keys of the given etypes.
func (k *KDC) etypeInfo2(a *dirAccount, etypes []int32) ([]byte, error) {
	info := make(types.ETypeInfo2, 0, len(etypes))
	for _, e := range etypes {
		info = append(info, types.ETypeInfo2Entry{EType: e, Salt: a.salt(k.realm, e)})
	}
	return asn1.Marshal(info)
}

// decryptPart decrypts EncryptedData after the checks gokrb5 leaves to the
// caller: the etype must match the key, and the ciphertext must be long
// enough for confounder and checksum (gokrb5 slices without checking).
func decryptPart(ed types.EncryptedData, key *krbkey.Key, usage uint32) ([]byte, error) {
	if ed.EType != key.KeyType {
		return nil, fmt.Errorf("ciphertext of %s, key of %s", enctype.Name(ed.EType), enctype.Name(key.KeyType))
	}
	et := key.EType()
	if need := et.GetConfounderByteSize() + et.GetHMACBitLength()/8; len(ed.Cipher) < need {
		return nil, fmt.Errorf("ciphertext of %d bytes, need at least %d", len(ed.Cipher), need)
	}
	return key.Decrypt(ed.Cipher, usage)
}

// verifyBodyChecksum checks the authenticator's checksum over the
// KDC-REQ-BODY exactly as sent (RFC 4120 3.3.2, key usage 6), which binds
// the request (service name, etypes, times) to the TGT.
func verifyBodyChecksum(ck types.Checksum, key types.EncryptionKey, body []byte) *krbError {
	if ck.CksumType == 0 && len(ck.Checksum) == 0 {
		return krbErr(errorcode.KRB_AP_ERR_INAPP_CKSUM, "authenticator carries no checksum of the request body")
	}
	et, err := crypto.GetChksumEtype(ck.CksumType)
	if err != nil {
		return krbErr(errorcode.KDC_ERR_SUMTYPE_NOSUPP, "checksum type %d not supported", ck.CksumType)
	}
	if len(key.KeyValue) != et.GetKeyByteSize() {
		return krbErr(errorcode.KRB_AP_ERR_INAPP_CKSUM, "checksum type %d does not suit a %s session key", ck.CksumType, enctype.Name(key.KeyType))
	}
	if !et.VerifyChecksum(key.KeyValue, body, ck.Checksum, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM) {
		return krbErr(errorcode.KRB_AP_ERR_MODIFIED, "request body checksum does not verify")
	}
	return nil
}

// decodeRequest runs one of gokrb5's decoders on bytes from the network and
// turns a panic into an error. gokrb5 v8.4.4 indexes past the end of a
// malformed additional-tickets field ([11] holding a single byte makes
// asn1tools.GetNumberBytesInLengthHeader read b[1]); the fuzz corpus keeps
// that request in testdata/fuzz/FuzzKDCRequest.
func decodeRequest(unmarshal func([]byte) error, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return unmarshal(b)
}

// rawKDCReq is KDC-REQ with the body kept as sent, for the checksum.
type rawKDCReq struct {
	PVNO    int                  `asn1:"explicit,tag:1"`
	MsgType int                  `asn1:"explicit,tag:2"`
	PAData  types.PADataSequence `asn1:"explicit,optional,tag:3"`
	ReqBody asn1.RawValue        `asn1:"explicit,tag:4"`
}

// tgsReq is a TGS-REQ with the DER of its KDC-REQ-BODY as sent: gokrb5
// decodes the body and drops the bytes, and re-encoding them could differ
// from what the client signed.
type tgsReq struct {
	messages.TGSReq
	rawBody []byte
}

// tgsReqParams are the DER parameters of a TGS-REQ, [APPLICATION 12]
// (asnAppTag.TGSREQ).
const tgsReqParams = "application,explicit,tag:12"

// unmarshal decodes a TGS-REQ as messages.TGSReq.Unmarshal does, in one
// pass that also keeps the body's bytes (decoding the request twice, once
// for gokrb5's value and once for the bytes, was a tenth of a TGS
// exchange).
func (r *tgsReq) unmarshal(b []byte) error {
	var m rawKDCReq
	if _, err := asn1.UnmarshalWithParams(b, &m, tgsReqParams); err != nil {
		return err
	}
	if m.MsgType != msgtype.KRB_TGS_REQ {
		return fmt.Errorf("message type %d, not TGS-REQ", m.MsgType)
	}
	if err := r.ReqBody.Unmarshal(m.ReqBody.Bytes); err != nil {
		return err
	}
	r.PVNO, r.MsgType, r.PAData, r.rawBody = m.PVNO, m.MsgType, m.PAData, m.ReqBody.Bytes
	return nil
}

func findPA(pas types.PADataSequence, t int32) *types.PAData {
	for i := range pas {
		if pas[i].PADataType == t {
			return &pas[i]
		}
	}
	return nil
}

// commonETypes is the etypes of req the account has keys for, in the
// client's order of preference.
func commonETypes(req, have []int32) []int32 {
	var out []int32
	for _, e := range req {
		if slices.Contains(have, e) && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// firstCommon picks the ticket's etype: the client's most preferred
// etype the service account has a key for. Like AD, the KDC will not issue
// a ticket in an etype the client did not ask for; none in common is
// KDC_ERR_ETYPE_NOSUPP.
func firstCommon(req, have []int32) (int32, bool) {
	for _, e := range req {
		if slices.Contains(have, e) {
			return e, true
		}
	}
	return 0, false
}

// copyOption sets a ticket flag the client asked for in kdc-options.
func copyOption(tf *asn1.BitString, opts asn1.BitString, f int) {
	if hasFlag(opts, f) {
		types.SetFlag(tf, f)
	}
}

// copyFlag sets a ticket flag the client asked for and the TGT has.
func copyFlag(tf *asn1.BitString, opts, tgtFlags asn1.BitString, f int) {
	if hasFlag(opts, f) && hasFlag(tgtFlags, f) {
		types.SetFlag(tf, f)
	}
}

// timeSet reports whether a KerberosTime field carries a time: absent
// fields decode as the zero time, and MIT sends 19700101000000Z for "no
// limit".
func timeSet(t time.Time) bool { return !t.IsZero() && t.Unix() > 0 }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// printableText keeps e-text and log lines to printable ASCII: names in them
// come from the request.
func printableText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// hasFlag reports whether flag f is set in KDCOptions or TicketFlags. Unlike
// types.IsFlagSet it tolerates a BIT STRING shorter than 32 bits.
func hasFlag(bs asn1.BitString, f int) bool { return bs.At(f) == 1 }

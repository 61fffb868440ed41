package krbclient

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/krberror"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// This file mirrors the protocol logic of gokrb5's client (ASExchange.go,
// TGSExchange.go) with the control exauth needs: typed KDC errors, the
// KDC's clock, per-step deadlines, and which KDC answered how.

// exchange sends one request and decodes the answer. A KRB-ERROR comes back
// as a *KDCError; the returned Exchange is complete but for KDCTime and Err
// on success, which the caller sets before recording it.
func (c *Client) exchange(ctx context.Context, kind, spn string, preauth bool, msg []byte) (Exchange, kdcReply, error) {
	ex := Exchange{Kind: kind, Preauth: preauth, Client: c.client, SPN: spn}
	kdcs, err := c.kdcList(ctx)
	if err != nil {
		return ex, kdcReply{}, err
	}
	s, err := c.tr.send(ctx, kind, c.realm, kdcs, c.udpLimit, msg)
	ex.Attempts = s.attempts
	ex.KDC, ex.Transport = s.kdc, s.transport
	ex.SentAt, ex.ReceivedAt, ex.Duration = s.sentAt, s.receivedAt, s.dur
	if err != nil {
		return ex, kdcReply{}, err
	}
	r, err := decodeReply(kind, s.reply)
	if err != nil {
		return ex, kdcReply{}, &ProtocolError{Exchange: kind, KDC: s.kdc, Transport: s.transport, Err: err}
	}
	if r.krbErr != nil {
		ex.KDCTime = kdcTime(r.krbErr)
		return ex, r, newKDCError(kind, r.krbErr, s.receivedAt, s.kdc, s.transport, c.client, spn)
	}
	return ex, r, nil
}

func (c *Client) record(ex Exchange, err error) {
	ex.Err = err
	c.mu.Lock()
	c.exchanges = append(c.exchanges, ex)
	if n := c.keepExchanges; n > 0 && len(c.exchanges) > 2*n {
		// Trim in batches: one copy per n exchanges, not one per exchange.
		c.exchanges = append(c.exchanges[:0:0], c.exchanges[len(c.exchanges)-n:]...)
	}
	c.mu.Unlock()
}

// kdcList is the realm's KDCs: configured, or found through DNS SRV records
// (_kerberos._tcp and _kerberos._udp) when krb5.conf allows it.
func (c *Client) kdcList(ctx context.Context) ([]kdcAddr, error) {
	if len(c.kdcs) > 0 {
		return c.kdcs, nil
	}
	// No KDC is configured: a configuration problem, not an unreachable
	// KDC, unless DNS itself could not be asked.
	if !c.krb5.LibDefaults.DNSLookupKDC {
		return nil, &ConfigError{Err: fmt.Errorf("no KDC for realm %s: krb5.conf has no kdc line for it and dns_lookup_kdc is off", c.realm), Hint: "add the realm's kdc lines to krb5.conf, or give a KDC"}
	}
	var out []kdcAddr
	var lookupErrs []string
	notFound := true
	for _, proto := range []string{TCP, UDP} {
		_, srvs, err := net.DefaultResolver.LookupSRV(ctx, "kerberos", proto, c.realm)
		if err != nil {
			var de *net.DNSError
			if !errors.As(err, &de) || !de.IsNotFound {
				notFound = false
			}
			lookupErrs = append(lookupErrs, err.Error())
			continue
		}
		for _, s := range srvs {
			out = append(out, kdcAddr{addr: net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))), only: proto})
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case notFound && ctx.Err() == nil:
		return nil, &ConfigError{Err: fmt.Errorf("no KDC for realm %s: krb5.conf has no kdc line for it and DNS has no _kerberos._tcp or _kerberos._udp SRV record", c.realm), Hint: "add the realm's kdc lines to krb5.conf, give a KDC, or check the realm's name (the AD domain's DNS name in upper case)"}
	}
	return nil, &UnreachableError{Realm: c.realm, Lookup: fmt.Errorf("no kdc in krb5.conf, and the DNS lookup of _kerberos._tcp.%s failed (%s)", c.realm, strings.Join(lookupErrs, "; ")), Err: ctx.Err()}
}

// login performs the AS exchange (RFC 4120 3.1): an AS-REQ without
// pre-authentication; when the KDC answers KDC_ERR_PREAUTH_REQUIRED, a second
// AS-REQ with PA-ENC-TIMESTAMP in the etype and salt its PA-ETYPE-INFO2
// names. A ccache login only checks that the ccache's TGT has not expired.
func (c *Client) login(ctx context.Context) (*tgt, error) {
	if c.creds.kind == credCCache {
		t := c.creds.tgt
		if now := c.clock.Now(); !t.endTime.After(now) {
			return nil, &CredentialsError{Source: c.creds.source, Err: fmt.Errorf("%w: it ended %s (now %s)", ErrExpired, t.endTime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), Hint: "run kinit " + c.client + " again"}
		}
		return t, nil
	}
	if c.creds.kind == credName {
		return nil, &CredentialsError{Source: c.creds.source, Err: errors.New("a name without a key, password or ticket cannot log in")}
	}
	c.mu.Lock()
	c.nAS++
	c.mu.Unlock()

	krbtgt := "krbtgt/" + c.realm
	req, err := c.newASReq()
	if err != nil {
		return nil, err
	}
	if c.creds.kind == credKeytab {
		if t, err, done := c.loginAtOnce(ctx, req, krbtgt); done {
			return t, err
		}
	}
	msg, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("krbclient: encoding the AS-REQ: %w", err)
	}
	ex, r, err := c.exchange(ctx, KindAS, krbtgt, false, msg)
	var kerr *KDCError
	if errors.As(err, &kerr) && kerr.Code == krberror.KDC_ERR_PREAUTH_REQUIRED {
		c.record(ex, err)
		hints := etypeHints(kerr.Message.EData)
		pa, _, perr := c.encTimestamp(hints)
		if perr != nil {
			return nil, perr
		}
		return c.asWithPreauth(ctx, req, pa, hints, krbtgt)
	}
	return c.endAS(req, ex, r, err, nil)
}

// newASReq is this client's AS-REQ for a TGT, without pre-authentication
// data: its etypes, its times.
func (c *Client) newASReq() (messages.ASReq, error) {
	req, err := messages.NewASReqForTGT(c.realm, c.krb5, c.cname)
	if err != nil {
		return req, fmt.Errorf("krbclient: building the AS-REQ: %w", err)
	}
	req.ReqBody.EType = c.etypes
	c.stampTimes(&req.ReqBody)
	return req, nil
}

// loginAtOnce pre-authenticates in the first AS-REQ: a keytab holds the
// key itself, so the salt a KDC_ERR_PREAUTH_REQUIRED round would announce is
// not needed, and a round trip and a connection are saved. A KDC that
// refuses names the etypes and salts it wants (PA-ETYPE-INFO2 in the
// error's e-data, as AD and MIT send): with them, one more attempt goes out
// at once. A refusal of the key itself is final: every further attempt
// would be one more failed logon on the DC, and locks the account out
// sooner. done is false when the classic two-step exchange should run.
func (c *Client) loginAtOnce(ctx context.Context, req messages.ASReq, krbtgt string) (t *tgt, err error, done bool) {
	pa, used, err := c.encTimestamp(nil)
	if err != nil {
		return nil, nil, false
	}
	if t, err = c.asWithPreauth(ctx, req, pa, nil, krbtgt); err == nil {
		return t, nil, true
	}
	var kerr *KDCError
	if !errors.As(err, &kerr) || final(kerr.Code) {
		return nil, err, true
	}
	hints := etypeHints(kerr.Message.EData)
	refused := kerr.Code == krberror.KDC_ERR_PREAUTH_FAILED
	if len(hints) == 0 {
		return nil, err, refused // without hints, only the classic exchange can learn more
	}
	if refused && slices.ContainsFunc(hints, func(h types.ETypeInfo2Entry) bool { return h.EType == used }) {
		return nil, err, true // the right etype, the wrong key
	}
	if pa, _, err = c.encTimestamp(hints); err != nil {
		return nil, err, true
	}
	t, err = c.asWithPreauth(ctx, req, pa, hints, krbtgt)
	return t, err, true
}

// asWithPreauth sends req with pa and finishes the AS exchange.
func (c *Client) asWithPreauth(ctx context.Context, req messages.ASReq, pa types.PAData, hints []types.ETypeInfo2Entry, krbtgt string) (*tgt, error) {
	req.PAData = append(slices.Clone(req.PAData), pa)
	msg, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("krbclient: encoding the AS-REQ: %w", err)
	}
	ex, r, err := c.exchange(ctx, KindAS, krbtgt, true, msg)
	return c.endAS(req, ex, r, err, hints)
}

// endAS finishes an AS exchange that was sent (err is the exchange's) and
// records it, with the KDC's clock when the reply carried it.
func (c *Client) endAS(req messages.ASReq, ex Exchange, r kdcReply, err error, hints []types.ETypeInfo2Entry) (*tgt, error) {
	if err != nil {
		c.record(ex, err)
		return nil, err
	}
	t, err := c.finishAS(req, r.as, hints, ex)
	if err == nil {
		ex.KDCTime = t.authTime
	}
	c.record(ex, err)
	return t, err
}

// final reports whether an AS error does not depend on how the client
// pre-authenticated, so that asking again the classic way cannot help.
func final(code krberror.Code) bool {
	switch code {
	case krberror.KRB_AP_ERR_SKEW, krberror.KDC_ERR_C_PRINCIPAL_UNKNOWN, krberror.KDC_ERR_CLIENT_REVOKED,
		krberror.KDC_ERR_WRONG_REALM, krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN:
		return true
	}
	return false
}

// stampTimes sets till (and rtime) from this host's clock: gokrb5 uses the
// system clock, exauth's clock may be a scenario's.
func (c *Client) stampTimes(b *messages.KDCReqBody) {
	now := c.clock.Now().UTC()
	b.Till = now.Add(c.krb5.LibDefaults.TicketLifetime).Truncate(time.Second)
	if !b.RTime.IsZero() {
		b.RTime = now.Add(c.krb5.LibDefaults.RenewLifetime).Truncate(time.Second)
	}
}

// etypeHints reads the etypes and salts a KDC offers (PA-ETYPE-INFO2, or the
// older PA-ETYPE-INFO) from a KRB-ERROR's e-data or an AS-REP's padata.
// Unreadable hints are skipped: the defaults then apply, as in MIT krb5.
func etypeHints(edata []byte) []types.ETypeInfo2Entry {
	if len(edata) == 0 {
		return nil
	}
	var pas types.PADataSequence
	if safeUnmarshal(func() error { return pas.Unmarshal(edata) }) != nil {
		return nil
	}
	return paHints(pas)
}

func paHints(pas types.PADataSequence) []types.ETypeInfo2Entry {
	var info2, info []types.ETypeInfo2Entry
	for _, pa := range pas {
		switch pa.PADataType {
		case patype.PA_ETYPE_INFO2:
			var d types.ETypeInfo2
			if safeUnmarshal(func() error { return d.Unmarshal(pa.PADataValue) }) == nil {
				info2 = append(info2, d...)
			}
		case patype.PA_ETYPE_INFO:
			var d types.ETypeInfo
			if safeUnmarshal(func() error { return d.Unmarshal(pa.PADataValue) }) == nil {
				for _, e := range d {
					info = append(info, types.ETypeInfo2Entry{EType: e.EType, Salt: string(e.Salt)})
				}
			}
		}
	}
	// RFC 4120 5.2.7.5: ETYPE-INFO2 takes precedence over ETYPE-INFO.
	if len(info2) > 0 {
		return info2
	}
	return info
}

// encTimestamp builds PA-ENC-TIMESTAMP (RFC 4120 5.2.7.2): this host's time,
// encrypted (key usage 1) in the first etype the KDC offers that the
// credentials have a key for.
func (c *Client) encTimestamp(hints []types.ETypeInfo2Entry) (types.PAData, int32, error) {
	var candidates []int32
	for _, h := range hints {
		if slices.Contains(c.etypes, h.EType) {
			candidates = append(candidates, h.EType)
		}
	}
	if len(hints) == 0 {
		candidates = c.etypes
	}
	var key types.EncryptionKey
	var kvno int
	var err error = errors.New("no common encryption type")
	for _, et := range candidates {
		if key, kvno, err = c.clientKey(et, 0, hints); err == nil {
			break
		}
	}
	if err != nil {
		offered := make([]string, len(hints))
		for i, h := range hints {
			offered[i] = strconv.Itoa(int(h.EType))
		}
		return types.PAData{}, 0, &CredentialsError{Source: c.creds.source,
			Err:  fmt.Errorf("cannot pre-authenticate: the KDC offers etypes [%s], the credentials allow %v: %w", strings.Join(offered, " "), c.etypes, err),
			Hint: "the client's keys and the KDC's disagree on encryption types (RC4/AES): re-export the keytab with the etypes the account has"}
	}
	now := c.clock.Now().UTC()
	ts, err := asn1.Marshal(types.PAEncTSEnc{PATimestamp: now.Truncate(time.Second), PAUSec: now.Nanosecond() / 1000})
	if err != nil {
		return types.PAData{}, 0, fmt.Errorf("krbclient: encoding PA-ENC-TS-ENC: %w", err)
	}
	ed, err := crypto.GetEncryptedData(ts, key, keyusage.AS_REQ_PA_ENC_TIMESTAMP, kvno)
	if err != nil {
		return types.PAData{}, 0, fmt.Errorf("krbclient: encrypting PA-ENC-TIMESTAMP: %w", err)
	}
	b, err := ed.Marshal()
	if err != nil {
		return types.PAData{}, 0, fmt.Errorf("krbclient: encoding PA-ENC-TIMESTAMP: %w", err)
	}
	return types.PAData{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: b}, key.KeyType, nil
}

// clientKey is the client's long-term key for an etype: from the keytab
// (kvno 0: the newest), or derived from the password with the salt and
// string-to-key parameters the KDC announced for that etype (default salt
// REALM+name otherwise). gokrb5's crypto.GetKeyFromPassword always takes the
// first ETYPE-INFO2 entry, which is wrong when the KDC lists several, so the
// salt is chosen here and the derivation left to gokrb5's etype.
func (c *Client) clientKey(etypeID int32, kvno int, hints []types.ETypeInfo2Entry) (types.EncryptionKey, int, error) {
	switch c.creds.kind {
	case credKeytab:
		return c.creds.keytab.GetEncryptionKey(c.cname, c.realm, kvno, etypeID)
	case credPassword:
		et, err := crypto.GetEtype(etypeID)
		if err != nil {
			return types.EncryptionKey{}, 0, err
		}
		salt, params := c.cname.GetSalt(c.realm), et.GetDefaultStringToKeyParams()
		for _, h := range hints {
			if h.EType != etypeID {
				continue
			}
			if h.Salt != "" {
				salt = h.Salt
			}
			if len(h.S2KParams) == 4 {
				params = hex.EncodeToString(h.S2KParams)
			}
			break
		}
		k, err := et.StringToKey(c.creds.password, salt, params)
		if err != nil {
			return types.EncryptionKey{}, 0, fmt.Errorf("deriving the %d key from the password: %w", etypeID, err)
		}
		return types.EncryptionKey{KeyType: etypeID, KeyValue: k}, 0, nil
	}
	return types.EncryptionKey{}, 0, errors.New("no long-term key in these credentials")
}

// finishAS decrypts and checks an AS-REP (RFC 4120 3.1.5). A reply the
// client's key cannot decrypt is a *CredentialsError (wrong password, stale
// keytab); a reply that does not answer this request is a *ProtocolError.
func (c *Client) finishAS(req messages.ASReq, rep *messages.ASRep, preauthHints []types.ETypeInfo2Entry, ex Exchange) (*tgt, error) {
	perr := func(err error) error {
		return &ProtocolError{Exchange: KindAS, KDC: ex.KDC, Transport: ex.Transport, Err: err}
	}
	// The reply's own padata names the salt first; the pre-authentication
	// hints fill in when it does not.
	hints := append(paHints(rep.PAData), preauthHints...)
	key, _, err := c.clientKey(rep.EncPart.EType, rep.EncPart.KVNO, hints)
	if err != nil {
		return nil, &CredentialsError{Source: c.creds.source, Err: fmt.Errorf("the KDC encrypted its AS-REP with %s, key version %d: %w", enctype.Name(rep.EncPart.EType), rep.EncPart.KVNO, err),
			Hint: "the keytab lacks the account's current key: export it again (the account's password or kvno changed)"}
	}
	var plain []byte
	err = safeUnmarshal(func() (err error) {
		plain, err = crypto.DecryptEncPart(rep.EncPart, key, keyusage.AS_REP_ENCPART)
		return err
	})
	if err != nil {
		return nil, &CredentialsError{Source: c.creds.source, Err: fmt.Errorf("cannot decrypt the KDC's AS-REP: %w", err),
			Hint: "the client's key differs from the KDC's: wrong password, or a stale keytab"}
	}
	var part messages.EncKDCRepPart
	if err := safeUnmarshal(func() error { return part.Unmarshal(plain) }); err != nil {
		return nil, perr(err)
	}
	rep.DecryptedEncPart = part
	if err := verifyASRep(req, rep); err != nil {
		return nil, perr(err)
	}
	return &tgt{ticket: rep.Ticket, key: part.Key, cname: rep.CName, realm: rep.CRealm, authTime: part.AuthTime, endTime: part.EndTime}, nil
}

// verifyASRep is gokrb5's ASRep.Verify without its two parts that do not fit
// here: the clock-skew check (skew is observed, see Client.verifyCfg) and the
// key derivation (done by finishAS with the right salt). It checks that the
// reply answers this request.
func verifyASRep(req messages.ASReq, rep *messages.ASRep) error {
	p := rep.DecryptedEncPart
	switch {
	case !rep.CName.Equal(req.ReqBody.CName):
		return fmt.Errorf("reply for client %q, asked for %q: a reply to another request", rep.CName.PrincipalNameString(), req.ReqBody.CName.PrincipalNameString())
	case rep.CRealm != req.ReqBody.Realm:
		return fmt.Errorf("reply for realm %q, asked for %q: a reply to another request", rep.CRealm, req.ReqBody.Realm)
	case p.Nonce != req.ReqBody.Nonce:
		return errors.New("nonce in the reply does not match the request: a reply to another request (or a replay)")
	case !p.SName.Equal(req.ReqBody.SName):
		return fmt.Errorf("reply for service %q, asked for %q", p.SName.PrincipalNameString(), req.ReqBody.SName.PrincipalNameString())
	case p.SRealm != req.ReqBody.Realm:
		return fmt.Errorf("reply for service realm %q, asked for %q", p.SRealm, req.ReqBody.Realm)
	case len(req.ReqBody.Addresses) > 0 && !types.HostAddressesEqual(p.CAddr, req.ReqBody.Addresses):
		return errors.New("addresses in the reply differ from the request")
	case len(p.Key.KeyValue) == 0:
		return errors.New("reply carries no session key")
	}
	return nil
}

// serviceTicket performs the TGS exchange (RFC 4120 3.3) for one SPN.
func (c *Client) serviceTicket(ctx context.Context, t *tgt, spn string, sname types.PrincipalName) (*ServiceTicket, error) {
	c.mu.Lock()
	c.nTGS++
	c.mu.Unlock()
	req, err := messages.NewTGSReq(t.cname, c.realm, c.krb5, t.ticket, t.key, sname, false)
	if err != nil {
		return nil, fmt.Errorf("krbclient: building the TGS-REQ: %w", err)
	}
	c.stampTimes(&req.ReqBody)
	if err := c.signTGSReq(&req, t); err != nil {
		return nil, err
	}
	msg, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("krbclient: encoding the TGS-REQ: %w", err)
	}
	ex, r, err := c.exchange(ctx, KindTGS, spn, false, msg)
	if err != nil {
		c.record(ex, err)
		return nil, err
	}
	st, err := c.finishTGS(req, r.tgs, t, spn, ex)
	if err == nil {
		// The KDC's "now" is the starttime it put in the reply; without
		// one there is no KDC time here (authtime is the TGT's).
		ex.KDCTime = r.tgs.DecryptedEncPart.StartTime
	}
	c.record(ex, err)
	return st, err
}

// signTGSReq replaces the PA-TGS-REQ that messages.NewTGSReq built: the same
// AP-REQ (checksum of the body, key usage 6; authenticator in the TGT's
// session key), with the authenticator's ctime from this host's clock and the
// checksum over the body as stampTimes left it.
func (c *Client) signTGSReq(req *messages.TGSReq, t *tgt) error {
	body, err := req.ReqBody.Marshal()
	if err != nil {
		return fmt.Errorf("krbclient: encoding the TGS-REQ body: %w", err)
	}
	et, err := crypto.GetEtype(t.key.KeyType)
	if err != nil {
		return &CredentialsError{Source: c.creds.source, Err: fmt.Errorf("TGT session key: %w", err)}
	}
	sum, err := et.GetChecksumHash(t.key.KeyValue, body, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
	if err != nil {
		return fmt.Errorf("krbclient: TGS-REQ checksum: %w", err)
	}
	auth, err := types.NewAuthenticator(t.ticket.Realm, req.ReqBody.CName)
	if err != nil {
		return fmt.Errorf("krbclient: authenticator: %w", err)
	}
	now := c.clock.Now().UTC()
	auth.CTime, auth.Cusec = now.Truncate(time.Second), now.Nanosecond()/1000
	auth.Cksum = types.Checksum{CksumType: et.GetHashID(), Checksum: sum}
	ap, err := messages.NewAPReq(t.ticket, t.key, auth)
	if err != nil {
		return fmt.Errorf("krbclient: AP-REQ: %w", err)
	}
	b, err := ap.Marshal()
	if err != nil {
		return fmt.Errorf("krbclient: encoding the AP-REQ: %w", err)
	}
	req.PAData = types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: b}}
	return nil
}

// finishTGS decrypts a TGS-REP with the TGT's session key (key usage 8) and
// checks it with gokrb5's TGSRep.Verify (clock check disabled).
func (c *Client) finishTGS(req messages.TGSReq, rep *messages.TGSRep, t *tgt, spn string, ex Exchange) (*ServiceTicket, error) {
	perr := func(err error) error {
		return &ProtocolError{Exchange: KindTGS, KDC: ex.KDC, Transport: ex.Transport, Err: err}
	}
	if err := safeUnmarshal(func() error { return rep.DecryptEncPart(t.key) }); err != nil {
		return nil, perr(fmt.Errorf("cannot decrypt the TGS-REP with the TGT's session key: %w", err))
	}
	var ok bool
	err := safeUnmarshal(func() (err error) {
		ok, err = rep.Verify(c.verifyCfg, req)
		return err
	})
	if err != nil || !ok {
		if err == nil {
			err = errors.New("TGS-REP is not valid")
		}
		return nil, perr(err)
	}
	if n := rep.Ticket.SName.NameString; len(n) > 0 && n[0] == "krbtgt" && !rep.Ticket.SName.Equal(req.ReqBody.SName) {
		realm := ""
		if len(n) > 1 {
			realm = n[1]
		}
		return nil, &ReferralError{SPN: spn, Realm: realm, KDC: ex.KDC}
	}
	p := rep.DecryptedEncPart
	if len(p.Key.KeyValue) == 0 {
		return nil, perr(errors.New("reply carries no session key"))
	}
	start := p.StartTime
	if start.IsZero() {
		start = p.AuthTime
	}
	return &ServiceTicket{
		Ticket:     rep.Ticket,
		SessionKey: p.Key,
		Client:     rep.CName,
		Realm:      rep.CRealm,
		SPN:        spn,
		EType:      rep.Ticket.EncPart.EType,
		KVNO:       rep.Ticket.EncPart.KVNO,
		AuthTime:   p.AuthTime,
		StartTime:  start,
		EndTime:    p.EndTime,
		RenewTill:  p.RenewTill,
		KDC:        ex.KDC,
		Transport:  ex.Transport,
	}, nil
}

// ErrNoClearTime says a KDC answered SampleKDCClock's AS-REQ with a ticket:
// it does not require pre-authentication of this principal, and an AS-REP
// carries its times only in the part encrypted in the principal's key.
var ErrNoClearTime = errors.New("krbclient: the KDC issued a ticket without pre-authentication, whose times are encrypted in the principal's key")

// SampleKDCClock reads a KDC's clock without logging in: one AS-REQ for
// the client without pre-authentication, which a KDC that requires it
// (Active Directory always does) refuses with KDC_ERR_PREAUTH_REQUIRED and
// its time (stime, RFC 4120 section 5.9.1). No key is used, so no failed
// logon counts against the account. The exchange is recorded (Exchanges)
// and returned: its ClockOffset is the sample, and Err the KDC's refusal.
// It needs no more than FromPrincipal's credentials.
func (c *Client) SampleKDCClock(ctx context.Context) (Exchange, error) {
	krbtgt := "krbtgt/" + c.realm
	req, err := c.newASReq()
	if err != nil {
		return Exchange{}, err
	}
	msg, err := req.Marshal()
	if err != nil {
		return Exchange{}, fmt.Errorf("krbclient: encoding the AS-REQ: %w", err)
	}
	ex, _, err := c.exchange(ctx, KindAS, krbtgt, false, msg)
	var kerr *KDCError
	switch {
	case errors.As(err, &kerr):
		// Any KRB-ERROR carries the KDC's time; the refusal is the point.
		c.record(ex, err)
		ex.Err = err
		return ex, nil
	case err != nil:
		c.record(ex, err)
		return ex, err
	}
	c.record(ex, ErrNoClearTime)
	ex.Err = ErrNoClearTime
	return ex, ErrNoClearTime
}

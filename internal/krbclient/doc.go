// Package krbclient is the probe's Kerberos client: it obtains a
// ticket-granting ticket (from a keytab, a password, or a FILE ccache) and
// service tickets, and records what it observed on the way — which KDC
// answered over which transport, when, what the KDC's clock said, and every
// KDC error as a typed value. It never judges: turning observations into a
// verdict is the diagnosis's job.
//
// Why not gokrb5's client package: it flattens KRB-ERRORs into strings
// (krberror.Krberror), hides the KDC's stime that clock-skew diagnosis needs,
// has no per-step context or deadline, and does not say which KDC or
// transport answered. So this package writes only the orchestration and the
// transport (RFC 4120 7.2: UDP, and TCP with a 4-byte length prefix) and
// leaves every byte to gokrb5: messages (AS-REQ/AS-REP, TGS-REQ/TGS-REP,
// KRB-ERROR, AP-REQ), crypto (string-to-key, PA-ENC-TIMESTAMP, reply
// decryption), types (PA-ETYPE-INFO2), credentials (ccache), keytab and
// config (krb5.conf). The protocol steps mirror gokrb5's client/ASExchange.go,
// TGSExchange.go and network.go, with these differences:
//
//   - A KRB-ERROR becomes a *KDCError with its code, name, e-text and stime.
//   - Requests are stamped from the injected clock (PA-ENC-TIMESTAMP,
//     authenticator ctime, till), so scenarios can skew this host's clock.
//   - A reply from a KDC whose clock is off is accepted and the offset
//     recorded (Exchange.ClockOffset), as MIT kinit does with kdc_timesync;
//     gokrb5 would reject it with a string error.
//   - KDCs are tried in krb5.conf order (gokrb5 shuffles them), UDP or TCP
//     first by udp_preference_limit as MIT does, each attempt recorded.
//   - A password's key is derived with the salt the KDC announced for the
//     etype actually used (gokrb5 takes the first PA-ETYPE-INFO2 entry).
//   - Cross-realm referrals are not followed.
//
// Errors, for errors.As: *KDCError (the KDC said no), *UnreachableError (no
// KDC answered; Attempts say refused or silent per KDC and transport),
// *ProtocolError (something answered, but not validly, or for another
// request), *CredentialsError (no usable credentials; Hint says what to do),
// *ConfigError (krb5.conf, realm, SPN).
//
// Secrets: passwords, keys and tickets are never logged, printed or put in
// errors; Credentials and ServiceTicket print only metadata.
package krbclient

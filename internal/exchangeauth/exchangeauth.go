// Package exchangeauth is the wire format of Exchange Server authentication
// as Exchange 2007 and later speak it between transport servers:
//
//	C: X-EXPS EXCHANGEAUTH SHA256 <blob>
//	S: 235 <blob>
//
// inside an X-ANONYMOUSTLS session. A blob is two fields, each its base64
// text preceded by that text's length as 8 upper-case hex digits: a
// Kerberos context token, then a SHA-256 hash that binds the token to the
// TLS session. The client's hash is
//
//	SHA256(receiver's certificate public key ‖ client session key ‖ TLS EAP key)
//
// and the receiver's answer carries a reverse Kerberos token (from the
// receiver to SMTPSVC/<the sender's EHLO name>) and
//
//	SHA256(receiver's certificate public key ‖ client session key ‖ TLS EAP key ‖ server session key)
//
// docs/exchangeauth.md gives the sources and the exact bytes of each
// input. This package only formats, parses and hashes; the Kerberos tokens
// and their session keys come from internal/gssapi.
package exchangeauth

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Hash is the only hash algorithm Exchange defines for the blob; the verb's
// argument and the "X-EXCHANGEAUTH SHA256" EHLO line name it.
const Hash = "SHA256"

// EAPKeyLabel and EAPKeySize are Schannel's EAP key block
// (SECPKG_ATTR_EAP_KEY_BLOCK): the TLS PRF with this label over the client
// and server randoms (RFC 5216 section 2.3), which is the RFC 5705 exporter
// with no context; Exchange hashes its first 128 bytes.
const (
	EAPKeyLabel = "client EAP encryption"
	EAPKeySize  = 128
)

// MaxBlob bounds a blob: Exchange reads command lines of up to 32,768
// bytes, and a blob longer than a line cannot arrive.
const MaxBlob = 32768

// lengthDigits is the width of a field's length prefix.
const lengthDigits = 8

// FormatBlob renders a token and a hash as a blob.
func FormatBlob(token, hash []byte) string {
	var b strings.Builder
	for _, field := range [][]byte{token, hash} {
		text := base64.StdEncoding.EncodeToString(field)
		fmt.Fprintf(&b, "%08X%s", len(text), text)
	}
	return b.String()
}

// BlobError is a blob that does not parse: Exchange answers it with the
// status IllegalMessage.
type BlobError struct {
	Field  string // "token" or "hash"
	Reason string
}

func (e *BlobError) Error() string {
	return fmt.Sprintf("exchangeauth: malformed blob: %s field: %s", e.Field, e.Reason)
}

// ParseBlob splits a blob into its token and hash, as Exchange's receiver
// does: each length is 8 hexadecimal digits (either case), the text is
// standard base64 with padding. Anything after the second field is
// ignored, as Exchange ignores it.
func ParseBlob(blob string) (token, hash []byte, err error) {
	if len(blob) > MaxBlob {
		return nil, nil, &BlobError{Field: "token", Reason: fmt.Sprintf("blob of %d bytes, more than %d", len(blob), MaxBlob)}
	}
	rest := blob
	token, rest, err = parseField("token", rest)
	if err != nil {
		return nil, nil, err
	}
	hash, _, err = parseField("hash", rest)
	if err != nil {
		return nil, nil, err
	}
	return token, hash, nil
}

func parseField(name, s string) ([]byte, string, error) {
	if len(s) < lengthDigits {
		return nil, "", &BlobError{Field: name, Reason: fmt.Sprintf("%d bytes left, a length needs %d", len(s), lengthDigits)}
	}
	n, err := strconv.ParseUint(s[:lengthDigits], 16, 31)
	if err != nil {
		return nil, "", &BlobError{Field: name, Reason: fmt.Sprintf("length %q is not 8 hexadecimal digits", s[:lengthDigits])}
	}
	s = s[lengthDigits:]
	if int(n) > len(s) {
		return nil, "", &BlobError{Field: name, Reason: fmt.Sprintf("length %d, only %d bytes follow", n, len(s))}
	}
	b, err := base64.StdEncoding.DecodeString(s[:n])
	if err != nil {
		return nil, "", &BlobError{Field: name, Reason: "not standard base64: " + err.Error()}
	}
	return b, s[n:], nil
}

// ClientHash is the hash of the client's blob.
func ClientHash(certPublicKey, clientKey, eapKey []byte) []byte {
	return sum(certPublicKey, clientKey, eapKey)
}

// ServerHash is the hash of the receiver's 235 blob.
func ServerHash(certPublicKey, clientKey, eapKey, serverKey []byte) []byte {
	return sum(certPublicKey, clientKey, eapKey, serverKey)
}

func sum(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// PublicKey is the certificate's public key as .NET's
// X509Certificate.GetPublicKey returns it, which Exchange hashes: the
// contents of the subjectPublicKey BIT STRING (for RSA the PKCS#1
// RSAPublicKey, for ECDSA the uncompressed point), not the whole
// SubjectPublicKeyInfo.
func PublicKey(cert *x509.Certificate) ([]byte, error) {
	if cert == nil {
		return nil, errors.New("exchangeauth: no certificate")
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki)
	if err != nil {
		return nil, fmt.Errorf("exchangeauth: certificate public key: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("exchangeauth: certificate public key: trailing data")
	}
	return spki.PublicKey.Bytes, nil
}

// ErrTLS13 says that the session negotiated TLS 1.3, for which Schannel's
// EAP key block is not specified: exauth, on both sides, negotiates at
// most TLS 1.2 inside X-ANONYMOUSTLS (docs/exchangeauth.md).
var ErrTLS13 = errors.New("exchangeauth: TLS 1.3 has no EAP key block that Exchange is known to use")

// EAPKey is the session's TLS EAP key: the RFC 5705 exporter with label
// EAPKeyLabel, no context, EAPKeySize bytes. Go refuses the exporter on a
// TLS 1.0-1.2 session without the Extended Master Secret extension unless
// GODEBUG tlsunsafeekm=1 allows it (Exchange computes it either way).
func EAPKey(cs tls.ConnectionState) ([]byte, error) {
	if !cs.HandshakeComplete {
		return nil, errors.New("exchangeauth: the TLS handshake is not complete")
	}
	if cs.Version >= tls.VersionTLS13 {
		return nil, ErrTLS13
	}
	k, err := cs.ExportKeyingMaterial(EAPKeyLabel, nil, EAPKeySize)
	if err != nil {
		return nil, fmt.Errorf("exchangeauth: TLS EAP key: %w", err)
	}
	return k, nil
}

// MaxTLSVersion is the highest TLS version exauth negotiates inside
// X-ANONYMOUSTLS, on both sides, so that the EAP key is defined.
const MaxTLSVersion = tls.VersionTLS12

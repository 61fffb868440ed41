package exchangeauth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/internal/exchangeauth"
)

// secondBlob is a second, minimal implementation of the blob from its
// description in docs/exchangeauth.md, written without the package's code:
// the base64 text of each field preceded by its length in 8 upper-case hex
// digits.
func secondBlob(token, hash []byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b64 := func(b []byte) string {
		var out []byte
		for i := 0; i < len(b); i += 3 {
			var chunk [3]byte
			n := copy(chunk[:], b[i:])
			v := uint(chunk[0])<<16 | uint(chunk[1])<<8 | uint(chunk[2])
			for j := 0; j < 4; j++ {
				if j > n {
					out = append(out, '=')
					continue
				}
				out = append(out, alphabet[(v>>(18-6*j))&63])
			}
		}
		return string(out)
	}
	t, h := b64(token), b64(hash)
	return strings.ToUpper(fmt.Sprintf("%08x", len(t))) + t + strings.ToUpper(fmt.Sprintf("%08x", len(h))) + h
}

// Vectors: the hash of fixed inputs, computed by concatenating and hashing
// by hand, and the blob of a fixed token, by the second implementation.
func TestBlobAndHashVectors(t *testing.T) {
	cert := bytes.Repeat([]byte{0x30}, 270)
	client := bytes.Repeat([]byte{0x11}, 32)
	eap := bytes.Repeat([]byte{0xEA}, 128)
	server := bytes.Repeat([]byte{0x22}, 32)

	all := append(append(append([]byte{}, cert...), client...), eap...)
	want := sha256.Sum256(all)
	if got := exchangeauth.ClientHash(cert, client, eap); !bytes.Equal(got, want[:]) {
		t.Errorf("ClientHash = %x, want %x", got, want)
	}
	want = sha256.Sum256(append(all, server...))
	if got := exchangeauth.ServerHash(cert, client, eap, server); !bytes.Equal(got, want[:]) {
		t.Errorf("ServerHash = %x, want %x", got, want)
	}

	for _, token := range [][]byte{{}, {0x60}, {0x60, 0x82}, []byte("a GSS-API token of some length"), bytes.Repeat([]byte{0xff}, 1000)} {
		hash := exchangeauth.ClientHash(cert, client, eap)
		blob := exchangeauth.FormatBlob(token, hash)
		if second := secondBlob(token, hash); blob != second {
			t.Errorf("token of %d bytes: FormatBlob = %q, second implementation %q", len(token), blob, second)
		}
		if !strings.Contains(blob, "0000002C") {
			t.Errorf("the hash field of %q is not 0000002C + 44 characters", blob)
		}
		gotTok, gotHash, err := exchangeauth.ParseBlob(blob)
		if err != nil || !bytes.Equal(gotTok, token) || !bytes.Equal(gotHash, hash) {
			t.Errorf("ParseBlob(FormatBlob) = %x, %x, %v", gotTok, gotHash, err)
		}
	}
	// A fixed blob, byte for byte.
	if got, want := exchangeauth.FormatBlob([]byte("tok"), []byte{1, 2}), "00000004dG9r00000004AQI="; got != want {
		t.Errorf("FormatBlob = %q, want %q", got, want)
	}
}

func TestParseBlob(t *testing.T) {
	for _, tc := range []struct {
		blob      string
		tok, hash string // hex
		field     string // failing field, "" for success
	}{
		{"00000004dG9r00000004AQI=", "746f6b", "0102", ""},
		{"00000004dG9r00000004AQI=trailing", "746f6b", "0102", ""}, // Exchange does not look past the hash
		{"00000000" + "00000000", "", "", ""},
		{"0000000adG9r", "", "", "token"},         // length past the end
		{"0000004", "", "", "token"},              // short length
		{"0x000004dG9r", "", "", "token"},         // not hex
		{"-0000004dG9r", "", "", "token"},         // a sign
		{"00000004dG9-00000000", "", "", "token"}, // URL-safe alphabet
		{"00000003dG900000000", "", "", "token"},  // unpadded
		{"00000004dG9r", "", "", "hash"},          // no hash
		{"00000004dG9r0000000", "", "", "hash"},   // short hash length
		{"00000004dG9r80000000", "", "", "hash"},  // negative in Exchange's int
		{"", "", "", "token"},
	} {
		tok, hash, err := exchangeauth.ParseBlob(tc.blob)
		var be *exchangeauth.BlobError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("ParseBlob(%q): %v", tc.blob, err)
		case tc.field == "" && (hex.EncodeToString(tok) != tc.tok || hex.EncodeToString(hash) != tc.hash):
			t.Errorf("ParseBlob(%q) = %x, %x", tc.blob, tok, hash)
		case tc.field != "" && (!errors.As(err, &be) || be.Field != tc.field):
			t.Errorf("ParseBlob(%q) = %v; want a BlobError in the %s field", tc.blob, err, tc.field)
		}
	}
	if _, _, err := exchangeauth.ParseBlob(strings.Repeat("0", exchangeauth.MaxBlob+1)); err == nil {
		t.Error("an oversized blob parsed")
	}
}

func FuzzParseBlob(f *testing.F) {
	f.Add("00000004dG9r00000004AQI=")
	f.Add("0000000adG9r")
	f.Add(exchangeauth.FormatBlob([]byte{0x60, 0x01}, make([]byte, 32)))
	f.Fuzz(func(t *testing.T, blob string) {
		tok, hash, err := exchangeauth.ParseBlob(blob)
		if err != nil {
			var be *exchangeauth.BlobError
			if !errors.As(err, &be) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		// What parses formats to a blob that parses to the same fields.
		// (Not back to the input: base64 decoders, Exchange's and Go's,
		// skip line breaks inside a field.)
		again := exchangeauth.FormatBlob(tok, hash)
		tok2, hash2, err := exchangeauth.ParseBlob(again)
		if err != nil || !bytes.Equal(tok, tok2) || !bytes.Equal(hash, hash2) {
			t.Fatalf("ParseBlob(%q) = %x, %x; formatted %q parses to %x, %x, %v", blob, tok, hash, again, tok2, hash2, err)
		}
	})
}

func selfSigned(t *testing.T, key any, pub any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub01.lab.test"}, DNSNames: []string{"hub01.lab.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The public key is what .NET's GetPublicKey returns: PKCS#1 for RSA, the
// uncompressed point for ECDSA.
func TestPublicKey(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	got, err := exchangeauth.PublicKey(selfSigned(t, rk, &rk.PublicKey))
	if err != nil || !bytes.Equal(got, x509.MarshalPKCS1PublicKey(&rk.PublicKey)) {
		t.Errorf("RSA: %x, %v; want the PKCS#1 RSAPublicKey", got, err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecdhKey, err := ek.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	got, err = exchangeauth.PublicKey(selfSigned(t, ek, &ek.PublicKey))
	if err != nil || !bytes.Equal(got, ecdhKey.Bytes()) || got[0] != 4 {
		t.Errorf("ECDSA: %x, %v; want 04||X||Y", got, err)
	}
	if _, err := exchangeauth.PublicKey(nil); err == nil {
		t.Error("no error without a certificate")
	}
}

// Both ends of a TLS 1.0-1.2 session derive the same EAP key; TLS 1.3 is
// refused rather than guessed.
func TestEAPKey(t *testing.T) {
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t, ek, &ek.PublicKey)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: ek}}, MinVersion: v, MaxVersion: v})
			cli := tls.Client(b, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v})
			done := make(chan error, 1)
			go func() { done <- srv.Handshake() }()
			if err := cli.Handshake(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			ck, cerr := exchangeauth.EAPKey(cli.ConnectionState())
			sk, serr := exchangeauth.EAPKey(srv.ConnectionState())
			if v == tls.VersionTLS13 {
				if !errors.Is(cerr, exchangeauth.ErrTLS13) || !errors.Is(serr, exchangeauth.ErrTLS13) {
					t.Fatalf("TLS 1.3: %v, %v; want ErrTLS13", cerr, serr)
				}
				return
			}
			if cerr != nil || serr != nil || len(ck) != exchangeauth.EAPKeySize || !bytes.Equal(ck, sk) {
				t.Fatalf("client %x (%v), server %x (%v)", ck, cerr, sk, serr)
			}
		})
	}
}

// Package netobs records what every producer sees of the network the same
// way: why a TCP connect failed, and whether a server's certificate is
// trusted. The SMTP and the HTTP probe share it, so that the verdict core
// reads one kind of connect and certificate observation.
package netobs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/exauth/exauth/verdict"
)

// ConnectKind classifies a failed TCP connect.
func ConnectKind(err error) verdict.ConnectKind {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr):
		return verdict.ConnectDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return verdict.ConnectRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return verdict.ConnectUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return verdict.ConnectTimeout
	default:
		return verdict.ConnectOther
	}
}

// VerifyCertificate records a server's certificate chain and whether it
// is trusted for host by roots (nil: the system's) at now. Producers keep
// the handshake going whatever the answer (InsecureSkipVerify) and let
// the verdict core decide what an untrusted certificate means on their
// path.
func VerifyCertificate(chain []*x509.Certificate, host string, roots *x509.CertPool, now time.Time) *verdict.CertObservation {
	leaf := chain[0]
	c := &verdict.CertObservation{
		Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), DNSNames: leaf.DNSNames,
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
	}
	for _, ip := range leaf.IPAddresses {
		c.IPAddresses = append(c.IPAddresses, ip.String())
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       host,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
	})
	if err != nil {
		c.Error = err.Error()
	} else {
		c.Trusted = true
	}
	return c
}

// LoadCAFile reads PEM trust anchors (a CA file setting).
func LoadCAFile(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate found", path)
	}
	return pool, nil
}

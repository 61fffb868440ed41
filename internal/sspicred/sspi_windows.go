//go:build windows

package sspicred

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"github.com/alexbrainman/sspi"
	"github.com/exauth/exauth/internal/sspistatus"
)

// Context attributes alexbrainman/sspi does not export (sspi.h).
const (
	secpkgAttrNames       = 1
	secpkgAttrSessionKey  = 9
	secpkgAttrNativeNames = 13
)

// secPkgContextSessionKey is SecPkgContext_SessionKey.
type secPkgContextSessionKey struct {
	length uint32
	key    *byte
}

// secPkgContextNativeNames is SecPkgContext_NativeNamesW.
type secPkgContextNativeNames struct {
	client, server *uint16
}

// System is Windows' SSPI with the logon session's own credentials.
// github.com/alexbrainman/sspi makes the calls; its kerberos and
// negotiate packages are not used because they keep the context handle
// to themselves, and SECPKG_ATTR_SESSION_KEY needs it.
func System() (SSPI, error) { return system{}, nil }

type system struct{}

// Well-known SIDs whose network identity is the computer account, and
// LOCAL SERVICE's, which has none.
const (
	sidLocalSystem    = "S-1-5-18"
	sidLocalService   = "S-1-5-19"
	sidNetworkService = "S-1-5-20"
)

func (system) Identity() (Identity, error) {
	tok, err := syscall.OpenCurrentProcessToken()
	if err != nil {
		return Identity{}, fmt.Errorf("OpenProcessToken: %w", err)
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return Identity{}, fmt.Errorf("GetTokenInformation: %w", err)
	}
	sid, err := u.User.Sid.String()
	if err != nil {
		return Identity{}, fmt.Errorf("ConvertSidToStringSid: %w", err)
	}
	id := Identity{Name: sid, Kind: IdentityUser}
	if account, domain, _, err := u.User.Sid.LookupAccount(""); err == nil {
		id.Name = domain + `\` + account
	}
	switch sid {
	case sidLocalSystem, sidNetworkService:
		id.Kind = IdentityComputer
	case sidLocalService:
		id.Kind = IdentityLocal
	}
	// For SYSTEM and NETWORK SERVICE, Windows answers with the computer
	// account ("CONTOSO\HUB02$"): the name the KDC sees.
	if n, err := userNameEx(syscall.NameSamCompatible); err == nil {
		id.Network = n
	}
	return id, nil
}

func userNameEx(format uint32) (string, error) {
	n := uint32(256)
	for range 2 {
		b := make([]uint16, n)
		err := syscall.GetUserNameEx(format, &b[0], &n)
		if err == nil {
			return syscall.UTF16ToString(b[:n]), nil
		}
		if !errors.Is(err, syscall.ERROR_MORE_DATA) {
			return "", err
		}
	}
	return "", errors.New("GetUserNameEx: the name keeps growing")
}

// statusError turns what alexbrainman/sspi returns (a syscall.Errno
// holding the SECURITY_STATUS) into a *StatusError.
func statusError(op string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &StatusError{Op: op, Status: sspistatus.Status(uint32(errno))}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func maxToken(pkg Package) (uint32, error) {
	pi, err := sspi.QueryPackageInfo(string(pkg))
	if err != nil {
		return 0, statusError("QuerySecurityPackageInfo ("+string(pkg)+")", err)
	}
	return pi.MaxToken, nil
}

func (system) Initiate(pkg Package, spn string, req Request) (ClientContext, []byte, error) {
	op := fmt.Sprintf("InitializeSecurityContext (%s) for %s", pkg, spn)
	max, err := maxToken(pkg)
	if err != nil {
		return nil, nil, err
	}
	target, err := syscall.UTF16PtrFromString(spn)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	cred, err := sspi.AcquireCredentials("", string(pkg), sspi.SECPKG_CRED_OUTBOUND, nil)
	if err != nil {
		return nil, nil, statusError("AcquireCredentialsHandle ("+string(pkg)+")", err)
	}
	flags := uint32(sspi.ISC_REQ_CONNECTION)
	if req.Mutual {
		flags |= sspi.ISC_REQ_MUTUAL_AUTH
	}
	if req.Integrity {
		flags |= sspi.ISC_REQ_INTEGRITY
	}
	c := &clientContext{op: op, ctx: sspi.NewClientContext(cred, flags), cred: cred, target: target, max: max}
	out, done, st := step(c.ctx, target, max, nil)
	if st != sspi.SEC_E_OK {
		cred.Release()
		return nil, nil, &StatusError{Op: op, Status: sspistatus.Status(uint32(st))}
	}
	c.done = done
	return c, out, nil
}

// step is one call of InitializeSecurityContext or
// AcceptSecurityContext with one token in and one out.
func step(c *sspi.Context, target *uint16, max uint32, in []byte) ([]byte, bool, syscall.Errno) {
	buf := make([]byte, max)
	var ob [1]sspi.SecBuffer
	ob[0].Set(sspi.SECBUFFER_TOKEN, buf)
	outDesc := sspi.NewSecBufferDesc(ob[:])
	var inDesc *sspi.SecBufferDesc
	if in != nil {
		var ib [1]sspi.SecBuffer
		ib[0].Set(sspi.SECBUFFER_TOKEN, in)
		inDesc = sspi.NewSecBufferDesc(ib[:])
	}
	st := c.Update(target, outDesc, inDesc)
	done := false
	switch st {
	case sspi.SEC_E_OK:
		done = true
	case sspi.SEC_I_COMPLETE_NEEDED, sspi.SEC_I_COMPLETE_AND_CONTINUE:
		if r := sspi.CompleteAuthToken(c.Handle, outDesc); r != sspi.SEC_E_OK {
			return nil, false, r
		}
		done = st == sspi.SEC_I_COMPLETE_NEEDED
	case sspi.SEC_I_CONTINUE_NEEDED:
	default:
		return nil, false, st
	}
	return buf[:ob[0].BufferSize], done, sspi.SEC_E_OK
}

type clientContext struct {
	op     string
	mu     sync.Mutex
	ctx    *sspi.Context
	cred   *sspi.Credentials
	target *uint16
	max    uint32
	done   bool
}

func (c *clientContext) Update(token []byte) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return nil, false, errors.New("the security context was released")
	}
	out, done, st := step(c.ctx, c.target, c.max, token)
	if st != sspi.SEC_E_OK {
		return nil, false, &StatusError{Op: c.op, Status: sspistatus.Status(uint32(st))}
	}
	c.done = done
	return out, done, nil
}

func (c *clientContext) Done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *clientContext) Mutual() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done && c.ctx != nil && c.ctx.EstablishedFlags&sspi.ISC_REQ_MUTUAL_AUTH != 0
}

func (c *clientContext) SessionKey() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return nil, errors.New("the security context was released")
	}
	return sessionKey(c.ctx)
}

// secqopWrapNoEncrypt is SECQOP_WRAP_NO_ENCRYPT (sspi.h): a wrap token
// with integrity only, as RFC 4752's security-layer step is.
const secqopWrapNoEncrypt = 0x80000001

func (c *clientContext) Unwrap(token []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return nil, errors.New("the security context was released")
	}
	op := "DecryptMessage (" + c.op + ")"
	// Windows takes the whole token as one SECBUFFER_STREAM and points a
	// SECBUFFER_DATA at the payload inside it; it works in place, on a
	// copy of the caller's token.
	var b [2]sspi.SecBuffer
	b[0].Set(sspi.SECBUFFER_STREAM, append([]byte(nil), token...))
	b[1].Set(sspi.SECBUFFER_DATA, nil)
	var qop uint32
	st := sspi.DecryptMessage(c.ctx.Handle, sspi.NewSecBufferDesc(b[:]), 0, &qop)
	if st == sspi.SEC_E_OK {
		return append([]byte(nil), b[1].Bytes()...), nil
	}
	if sspistatus.Status(uint32(st)) != sspistatus.SEC_E_INVALID_TOKEN {
		return nil, &StatusError{Op: op, Status: sspistatus.Status(uint32(st))}
	}
	// Wine's Kerberos package (8.0) knows no SECBUFFER_STREAM: it
	// unwraps SECBUFFER_DATA followed by SECBUFFER_TOKEN and copies the
	// payload over DATA, which must then be exactly the payload's length:
	// the token's RFC 4121 header says how long that is.
	n, err := wrapPayloadLen(token)
	if err != nil {
		return nil, &StatusError{Op: op, Status: sspistatus.Status(uint32(st))}
	}
	data := append([]byte(nil), token[:n]...)
	b[0].Set(sspi.SECBUFFER_DATA, data)
	b[1].Set(sspi.SECBUFFER_TOKEN, append([]byte(nil), token[n:]...))
	if st := sspi.DecryptMessage(c.ctx.Handle, sspi.NewSecBufferDesc(b[:]), 0, &qop); st != sspi.SEC_E_OK {
		return nil, &StatusError{Op: op, Status: sspistatus.Status(uint32(st))}
	}
	return data, nil
}

func (c *clientContext) Wrap(msg []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return nil, errors.New("the security context was released")
	}
	op := "EncryptMessage (" + c.op + ")"
	_, maxSig, blockSize, trailer, err := c.ctx.Sizes()
	if err != nil {
		return nil, statusError("QueryContextAttributes (SECPKG_ATTR_SIZES)", err)
	}
	if maxSig == 0 {
		return nil, fmt.Errorf("%s: the context has no integrity (ISC_REQ_INTEGRITY was not granted)", op)
	}
	data := append([]byte(nil), msg...)
	var b [3]sspi.SecBuffer
	b[0].Set(sspi.SECBUFFER_TOKEN, make([]byte, trailer))
	b[1].Set(sspi.SECBUFFER_DATA, data)
	b[2].Set(sspi.SECBUFFER_PADDING, make([]byte, blockSize))
	if st := sspi.EncryptMessage(c.ctx.Handle, secqopWrapNoEncrypt, sspi.NewSecBufferDesc(b[:]), 0); st != sspi.SEC_E_OK {
		return nil, &StatusError{Op: op, Status: sspistatus.Status(uint32(st))}
	}
	tok, out, pad := b[0].Bytes(), b[1].Bytes(), b[2].Bytes()
	// Windows leaves DATA as it was (integrity only) and the wrap token
	// is TOKEN, DATA, PADDING. Wine's Kerberos package (8.0) writes
	// gss_wrap's output over DATA and then TOKEN instead: DATA then holds
	// the token's first octets, an RFC 4121 header (05 04) or RFC 1964
	// framing (60), which msg, a security-layer choice, never starts with.
	if !bytes.Equal(out, msg) {
		return append(append([]byte(nil), out...), tok...), nil
	}
	return append(append(append([]byte(nil), tok...), out...), pad...), nil
}

func (c *clientContext) ClientName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return ""
	}
	return clientName(c.ctx)
}

func (c *clientContext) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return
	}
	c.ctx.Release()
	c.cred.Release()
	c.ctx, c.cred = nil, nil
}

func sessionKey(c *sspi.Context) ([]byte, error) {
	var sk secPkgContextSessionKey
	if st := sspi.QueryContextAttributes(c.Handle, secpkgAttrSessionKey, (*byte)(unsafe.Pointer(&sk))); st != sspi.SEC_E_OK {
		return nil, fmt.Errorf("%w: %w", ErrNoSessionKey, &StatusError{Op: "QueryContextAttributes", Status: sspistatus.Status(uint32(st))})
	}
	if sk.key == nil {
		return nil, ErrNoSessionKey
	}
	defer sspi.FreeContextBuffer(sk.key)
	return append([]byte(nil), unsafe.Slice(sk.key, sk.length)...), nil
}

// clientName is the context's client principal: the Kerberos name
// (SECPKG_ATTR_NATIVE_NAMES) where the package gives it, else the
// Windows name (SECPKG_ATTR_NAMES).
func clientName(c *sspi.Context) string {
	var nn secPkgContextNativeNames
	if sspi.QueryContextAttributes(c.Handle, secpkgAttrNativeNames, (*byte)(unsafe.Pointer(&nn))) == sspi.SEC_E_OK {
		name := utf16PtrToString(nn.client)
		for _, p := range []*uint16{nn.client, nn.server} {
			if p != nil {
				sspi.FreeContextBuffer((*byte)(unsafe.Pointer(p)))
			}
		}
		if name != "" {
			return name
		}
	}
	var p *uint16
	if sspi.QueryContextAttributes(c.Handle, secpkgAttrNames, (*byte)(unsafe.Pointer(&p))) == sspi.SEC_E_OK && p != nil {
		defer sspi.FreeContextBuffer((*byte)(unsafe.Pointer(p)))
		return utf16PtrToString(p)
	}
	return ""
}

func utf16PtrToString(p *uint16) string {
	if p == nil {
		return ""
	}
	n := 0
	for ptr := unsafe.Pointer(p); *(*uint16)(ptr) != 0; n++ {
		ptr = unsafe.Add(ptr, 2)
	}
	return syscall.UTF16ToString(unsafe.Slice(p, n))
}

func (system) Accept(pkg Package, token []byte) (Accepted, error) {
	op := fmt.Sprintf("AcceptSecurityContext (%s)", pkg)
	max, err := maxToken(pkg)
	if err != nil {
		return Accepted{}, err
	}
	cred, err := sspi.AcquireCredentials("", string(pkg), sspi.SECPKG_CRED_INBOUND, nil)
	if err != nil {
		return Accepted{}, statusError("AcquireCredentialsHandle ("+string(pkg)+", inbound)", err)
	}
	defer cred.Release()
	c := sspi.NewServerContext(cred, sspi.ASC_REQ_CONNECTION)
	out, done, st := step(c, nil, max, token)
	if st != sspi.SEC_E_OK {
		return Accepted{}, &StatusError{Op: op, Status: sspistatus.Status(uint32(st))}
	}
	defer c.Release()
	acc := Accepted{Output: out, Done: done}
	if done {
		acc.Client = clientName(c)
		// The token was accepted; an error here is the attribute's alone
		// (Wine stubs SECPKG_ATTR_SESSION_KEY), and its Op says so.
		if acc.SessionKey, err = sessionKey(c); err != nil {
			return Accepted{}, err
		}
	}
	return acc, nil
}

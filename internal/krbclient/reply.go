package krbclient

import (
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/messages"
)

// kdcReply is a decoded KDC answer: exactly one of its fields is set.
type kdcReply struct {
	as     *messages.ASRep
	tgs    *messages.TGSRep
	krbErr *messages.KRBError
}

// decodeReply decodes a KDC's answer to a request of the given kind (KindAS
// or KindTGS): the expected reply, or a KRB-ERROR. Anything else — bytes that
// are not Kerberos, a reply of the other kind, a message gokrb5 cannot
// unmarshal — is an error (the caller wraps it in a *ProtocolError). It never
// panics, whatever the bytes.
func decodeReply(kind string, b []byte) (kdcReply, error) {
	if len(b) == 0 {
		return kdcReply{}, errors.New("empty reply")
	}
	var r kdcReply
	switch b[0] {
	case tagKRBError:
		var m messages.KRBError
		if err := safeUnmarshal(func() error { return m.Unmarshal(b) }); err != nil {
			return kdcReply{}, fmt.Errorf("malformed KRB-ERROR: %w", err)
		}
		r.krbErr = &m
	case tagASRep:
		if kind != KindAS {
			return kdcReply{}, fmt.Errorf("an AS-REP in answer to a %s-REQ", kind)
		}
		var m messages.ASRep
		if err := safeUnmarshal(func() error { return m.Unmarshal(b) }); err != nil {
			return kdcReply{}, fmt.Errorf("malformed AS-REP: %w", err)
		}
		r.as = &m
	case tagTGSRep:
		if kind != KindTGS {
			return kdcReply{}, fmt.Errorf("a TGS-REP in answer to an %s-REQ", kind)
		}
		var m messages.TGSRep
		if err := safeUnmarshal(func() error { return m.Unmarshal(b) }); err != nil {
			return kdcReply{}, fmt.Errorf("malformed TGS-REP: %w", err)
		}
		r.tgs = &m
	default:
		return kdcReply{}, fmt.Errorf("not a Kerberos reply (%d bytes, first byte %#02x)", len(b), b[0])
	}
	return r, nil
}

// safeUnmarshal runs a gokrb5 decoder and turns a panic on hostile bytes
// into an error: the reply comes from the network.
func safeUnmarshal(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return f()
}

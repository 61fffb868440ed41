package smtpreply

import (
	"slices"
	"strings"
)

// Capability is one EHLO keyword line: "X-EXPS GSSAPI NTLM" is keyword
// "X-EXPS" with params ["GSSAPI", "NTLM"].
type Capability struct {
	Keyword string
	Params  []string
	// Masked is set for lines that an ESMTP-inspecting firewall overwrote
	// with X characters (Cisco PIX/ASA "fixup smtp" writes "XXXXXXXA",
	// "XXXXXXXB", ...): the verb was there, but no client can use it.
	Masked bool
}

// String renders the capability as it appeared in the EHLO reply.
func (c Capability) String() string {
	if len(c.Params) == 0 {
		return c.Keyword
	}
	return c.Keyword + " " + strings.Join(c.Params, " ")
}

// Capabilities is the parsed EHLO reply (without its greeting line).
type Capabilities []Capability

// ParseEHLO turns the lines of a 250 EHLO reply into capabilities. The
// first line is the server's greeting and is skipped.
func ParseEHLO(r Reply) Capabilities {
	if len(r.Lines) < 2 {
		return nil
	}
	caps := make(Capabilities, 0, len(r.Lines)-1)
	for _, line := range r.Lines[1:] {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		c := Capability{Keyword: strings.ToUpper(fields[0]), Params: fields[1:]}
		c.Masked = IsMasked(fields[0])
		caps = append(caps, c)
	}
	return caps
}

// IsMasked reports whether an EHLO keyword is an ESMTP-inspection mask: at
// least four characters, mostly 'X', as in "XXXXXXXA" or "XXXX".
func IsMasked(keyword string) bool {
	if len(keyword) < 4 {
		return false
	}
	x := 0
	for _, r := range keyword {
		switch {
		case r == 'X' || r == 'x':
			x++
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return x >= len(keyword)-1
}

// Has reports whether keyword is advertised (unmasked).
func (cs Capabilities) Has(keyword string) bool {
	_, ok := cs.Get(keyword)
	return ok
}

// Get returns the capability with the keyword.
func (cs Capabilities) Get(keyword string) (Capability, bool) {
	for _, c := range cs {
		if !c.Masked && strings.EqualFold(c.Keyword, keyword) {
			return c, true
		}
	}
	return Capability{}, false
}

// Mechanisms returns the parameters of an AUTH-like keyword ("AUTH",
// "X-EXPS") in upper case, or nil when it is not advertised.
func (cs Capabilities) Mechanisms(keyword string) []string {
	c, ok := cs.Get(keyword)
	if !ok {
		return nil
	}
	mechs := make([]string, len(c.Params))
	for i, p := range c.Params {
		mechs[i] = strings.ToUpper(p)
	}
	return mechs
}

// Offers reports whether the keyword's parameters name mech ("X-EXPS",
// "GSSAPI"): mechanism names are compared as Mechanisms returns them.
func (cs Capabilities) Offers(keyword, mech string) bool {
	return slices.Contains(cs.Mechanisms(keyword), strings.ToUpper(mech))
}

// Masked returns the masked lines.
func (cs Capabilities) Masked() []Capability {
	var m []Capability
	for _, c := range cs {
		if c.Masked {
			m = append(m, c)
		}
	}
	return m
}

// Strings renders every capability line.
func (cs Capabilities) Strings() []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

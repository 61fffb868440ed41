package scenarios

import "strings"

// Roles are the kinds of receiving server a scenario can name (hub.role),
// as data: each is the EHLO list that role's default receive connector
// sends before TLS, in Exchange's order. Inside X-ANONYMOUSTLS the
// connector derives its list from it (fakeserver.AnonymousTLSCapabilities):
// a bridgehead (X-EXPS GSSAPI) adds EXCHANGEAUTH and X-EXCHANGEAUTH SHA256.
var roles = map[string][]string{
	// Exchange 2013-2019 Transport service, "Default <SERVER>" on 2525, and
	// the Front End Transport service's "Default Frontend <SERVER>" on 25
	// (Microsoft's documented port-25 list).
	"hub": {"SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS",
		"AUTH NTLM", "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "XRDST"},
	"frontend": {"SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS",
		"AUTH NTLM", "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "XRDST"},
	// Exchange 2010 Hub Transport on 25: XEXCH50 and XSHADOW too.
	"hub-2010": {"SIZE 10485760", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS",
		"AUTH NTLM", "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "XEXCH50", "XRDST", "XSHADOW"},
	// An Edge Transport server: trusted through EdgeSync and certificates,
	// never Kerberos, so X-EXPS offers NTLM only.
	"edge": {"SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS",
		"AUTH NTLM", "X-EXPS NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "XEXCH50"},
	// Exchange 2003 (IIS SMTP): no X-ANONYMOUSTLS, X-EXPS GSSAPI the
	// only Kerberos path (what a 2007+ sender downgrades to).
	"exchange-2003": {"TURN", "ATRN", "SIZE", "ETRN", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "8bitmime",
		"BINARYMIME", "CHUNKING", "VRFY", "X-EXPS GSSAPI NTLM LOGIN", "X-EXPS=LOGIN", "AUTH GSSAPI NTLM LOGIN",
		"AUTH=LOGIN", "X-LINK2STATE", "XEXCH50"},
}

// roleNames lists the roles for messages.
func roleNames() string {
	return "hub, frontend, hub-2010, edge or exchange-2003"
}

// capabilitiesOf is the EHLO list a hub sends before TLS: its own list when
// it has one, else its role's.
func (h *Hub) capabilitiesOf() []string {
	if len(h.Capabilities) > 0 {
		return h.Capabilities
	}
	return roles[strings.ToLower(h.Role)]
}

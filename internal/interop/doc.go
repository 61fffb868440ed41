// Package interop proves exauth against software it did not write: MIT
// Kerberos (krb5kdc, kadmin.local, kinit, kvno, klist), Postfix with Cyrus
// SASL GSSAPI, GNU gsasl and swaks. Our probe and our fake side could agree
// with each other and both be wrong; these tests put each of them in front
// of an independent, widely deployed implementation.
//
// The tests carry the build tag "interop" and skip, naming the Debian
// package to install, when a tool is missing, so `go test ./...` stays
// hermetic. Run them with
//
//	.ci/install-peers && go test -tags interop -v ./internal/interop/
//
// See README.md in this directory for what each test proves and what the
// peers taught us.
package interop

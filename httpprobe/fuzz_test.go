package httpprobe

import "testing"

// The server's Negotiate reply is hostile input: any bytes give a token
// or an error, never a panic.
func FuzzResponseToken(f *testing.F) {
	f.Add([]byte{0xa1, 0x03, 0x0a, 0x01, 0x00})
	f.Add([]byte{0x60, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := responseToken(b)
		if err == nil && len(tok) == 0 {
			t.Fatalf("responseToken(%x): no token and no error", b)
		}
	})
}

package enctype

import "testing"

func TestNamesRoundTrip(t *testing.T) {
	for id, name := range names {
		got, ok := ID(name)
		if !ok || got != id || Name(id) != name {
			t.Errorf("%d %q: ID=%d,%v Name=%q", id, name, got, ok, Name(id))
		}
	}
	for alias, want := range map[string]int32{"arcfour-hmac": 23, "AES256-CTS-HMAC-SHA1-96": 18, " rc4-hmac ": 23} {
		if got, ok := ID(alias); !ok || got != want {
			t.Errorf("ID(%q) = %d, %v; want %d", alias, got, ok, want)
		}
	}
	if _, ok := ID("des-cbc-crc"); ok {
		t.Error("des-cbc-crc accepted: gokrb5 does not implement it")
	}
	if Name(99) != "etype 99" || Known(99) {
		t.Error("unknown type")
	}
}

package gssapi

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// ReplayCache remembers authenticators an acceptor has accepted, so that a
// second presentation of the same one is refused with KRB_AP_ERR_REPEAT
// (RFC 4120 section 3.2.3). An entry is kept while its time is within the
// allowed skew of the acceptor's clock: older authenticators are refused
// as skewed anyway. Share one cache among the Servers of one acceptor;
// it is safe for concurrent use. The zero value is ready to use.
//
// Entries are keyed on a hash of the authenticator's ciphertext, as MIT krb5
// 1.18 and later do, not on (client, ctime, cusec): two sessions of one
// client started in the same microsecond are not a replay, and a busy
// sender does start them so.
type ReplayCache struct {
	mu        sync.Mutex
	entries   map[[sha256.Size]byte]time.Time
	lastSweep time.Time
}

// NewReplayCache returns an empty cache.
func NewReplayCache() *ReplayCache { return &ReplayCache{} }

// sweepEvery bounds the cost of forgetting: one pass over the entries per
// interval, not one per authentication.
const sweepEvery = time.Second

// seen records the authenticator (its ciphertext, for the server) and
// reports whether it had been recorded before. Entries whose time lies more
// than skew before now are forgotten.
func (rc *ReplayCache) seen(server string, cipher []byte, ctime, now time.Time, skew time.Duration) bool {
	h := sha256.New()
	h.Write([]byte(strings.ToLower(server)))
	h.Write([]byte{0})
	h.Write(cipher)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.entries == nil {
		rc.entries = make(map[[sha256.Size]byte]time.Time)
	}
	if now.Sub(rc.lastSweep) >= sweepEvery || now.Before(rc.lastSweep) {
		for e, t := range rc.entries {
			if now.Sub(t) > skew {
				delete(rc.entries, e)
			}
		}
		rc.lastSweep = now
	}
	if _, ok := rc.entries[k]; ok {
		return true
	}
	rc.entries[k] = ctime
	return false
}

// Len returns the number of remembered authenticators.
func (rc *ReplayCache) Len() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.entries)
}

package gssapi

import (
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
type ReplayCache struct {
	mu      sync.Mutex
	entries map[replayKey]time.Time
}

type replayKey struct {
	server string
	client string
	ctime  int64 // Unix seconds
	cusec  int
}

// NewReplayCache returns an empty cache.
func NewReplayCache() *ReplayCache { return &ReplayCache{} }

// seen records the authenticator and reports whether it had been recorded
// before. Entries whose time lies more than skew before now are dropped.
func (rc *ReplayCache) seen(server, client string, ctime time.Time, cusec int, now time.Time, skew time.Duration) bool {
	k := replayKey{server: strings.ToLower(server), client: client, ctime: ctime.Unix(), cusec: cusec}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.entries == nil {
		rc.entries = make(map[replayKey]time.Time)
	}
	for e, t := range rc.entries {
		if now.Sub(t) > skew {
			delete(rc.entries, e)
		}
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

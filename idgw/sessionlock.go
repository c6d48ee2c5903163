package idgw

import "sync"

// sessionLocks serialise, on one node, the requests that act on one login
// session: the person's page and the SDK's re-polls of the authorize URL
// arrive together, and each asks the authenticator how the challenge
// stands (which may send an SMS or call an MSSP). A mutex exists only
// while a request holds or waits for it, so memory follows the requests
// in flight, not the logins. Across the operator's nodes, a session's
// version decides (saveSession).
type sessionLocks struct {
	mu sync.Mutex
	m  map[storeKey]*sessionLock
}

type sessionLock struct {
	sync.Mutex
	users int
}

func (l *sessionLocks) lock(key storeKey) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[storeKey]*sessionLock{}
	}
	e := l.m[key]
	if e == nil {
		e = &sessionLock{}
		l.m[key] = e
	}
	e.users++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

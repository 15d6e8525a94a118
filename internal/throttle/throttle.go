// Package throttle slows down password guessing: per key (an account name, a source
// address) it counts failures and, after a few free ones, makes the key wait longer and
// longer (exponential backoff up to a cap) before it may try again. Memory is bounded:
// at most MaxKeys keys are remembered, the least recently failed forgotten first.
package throttle

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Config of a Limiter. Zero fields take the defaults.
type Config struct {
	Free    int           // failures allowed without waiting (default 5)
	Base    time.Duration // wait after the first failure past Free (default 1s); then doubled at each failure
	Max     time.Duration // longest wait (default 15m)
	Forget  time.Duration // failures older than this are forgotten (default 1h; at least Max)
	MaxKeys int           // keys remembered (default 100000)
}

// Defaults of the zero Config fields.
const (
	DefaultFree    = 5
	DefaultBase    = time.Second
	DefaultMax     = 15 * time.Minute
	DefaultForget  = time.Hour
	DefaultMaxKeys = 100000
)

// maxKeyLen: longer keys are remembered by their SHA-256.
const maxKeyLen = 128

// Limiter counts failures per key. Safe for concurrent use.
type Limiter struct {
	cfg Config
	now func() time.Time

	mu   sync.Mutex
	keys map[string]*list.Element // of *entry
	lru  *list.List               // front: most recently failed
}

type entry struct {
	key      string
	failures int
	last     time.Time // last failure
	until    time.Time // no attempt before this
}

// New makes a Limiter reading time from now (time.Now when nil).
func New(cfg Config, now func() time.Time) *Limiter {
	if cfg.Free <= 0 {
		cfg.Free = DefaultFree
	}
	if cfg.Base <= 0 {
		cfg.Base = DefaultBase
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Max < cfg.Base {
		cfg.Max = cfg.Base
	}
	if cfg.Forget <= 0 {
		cfg.Forget = DefaultForget
	}
	if cfg.Forget < cfg.Max {
		cfg.Forget = cfg.Max
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{cfg: cfg, now: now, keys: make(map[string]*list.Element), lru: list.New()}
}

func normalize(key string) string {
	if len(key) <= maxKeyLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// lookup returns key's entry, dropping it when its failures are forgotten. Locked.
func (l *Limiter) lookup(key string, now time.Time) *entry {
	el, ok := l.keys[key]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if now.Sub(e.last) >= l.cfg.Forget && !now.Before(e.until) {
		l.lru.Remove(el)
		delete(l.keys, key)
		return nil
	}
	return e
}

// Allow reports whether key may try now; when not, retryAfter is how long it must wait
// (at least one second, for a Retry-After header).
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	key = normalize(key)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.lookup(key, now)
	if e == nil || !now.Before(e.until) {
		return true, 0
	}
	return false, roundUp(e.until.Sub(now))
}

// Fail records a failed attempt of key and returns the wait it now imposes (0 while the
// key has free failures left). A caller may audit the moment a wait starts (the first
// non-zero return after a zero one) as a lockout.
func (l *Limiter) Fail(key string) (wait time.Duration) {
	key = normalize(key)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.lookup(key, now)
	if e == nil {
		l.evict(now)
		e = &entry{key: key}
		l.keys[key] = l.lru.PushFront(e)
	} else {
		l.lru.MoveToFront(l.keys[key])
	}
	e.failures++
	e.last = now
	over := e.failures - l.cfg.Free
	if over <= 0 {
		return 0
	}
	wait = l.cfg.Max
	if over <= 40 { // 2^40 s is past any cap
		if w := l.cfg.Base << (over - 1); w > 0 && w < l.cfg.Max {
			wait = w
		}
	}
	e.until = now.Add(wait)
	return wait
}

// Succeed forgets key's failures (after a successful login).
func (l *Limiter) Succeed(key string) {
	key = normalize(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.keys[key]; ok {
		l.lru.Remove(el)
		delete(l.keys, key)
	}
}

// Len is the number of keys remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// evictScan bounds the search for a key to evict that is not waiting.
const evictScan = 16

// evict makes room for one key when the Limiter is full. Locked. It forgets the least
// recently failed key that is not made to wait now, looking at the evictScan oldest keys,
// so that a flood of distinct keys (each with one failure) does not free the keys it
// would most like to free: those locked out. Failing that, it forgets the oldest.
func (l *Limiter) evict(now time.Time) {
	if len(l.keys) < l.cfg.MaxKeys {
		return
	}
	victim := l.lru.Back()
	for el, i := victim, 0; el != nil && i < evictScan; el, i = el.Prev(), i+1 {
		if !now.Before(el.Value.(*entry).until) {
			victim = el
			break
		}
	}
	l.lru.Remove(victim)
	delete(l.keys, victim.Value.(*entry).key)
}

func roundUp(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return max(d, time.Second)
}

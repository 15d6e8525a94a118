package throttle

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)} }

func TestBackoff(t *testing.T) {
	// step: advance the clock, then act on key "alice".
	type step struct {
		advance   time.Duration
		op        string // allow, fail, succeed
		wantOK    bool
		wantAfter time.Duration // allow: retryAfter; fail: wait
	}
	tests := []struct {
		desc  string
		cfg   Config
		steps []step
	}{
		{"free failures then doubling up to the cap", Config{Free: 2, Base: time.Second, Max: 5 * time.Second}, []step{
			{0, "allow", true, 0},
			{0, "fail", false, 0},
			{0, "fail", false, 0},
			{0, "allow", true, 0},
			{0, "fail", false, time.Second},
			{0, "allow", false, time.Second},
			{500 * time.Millisecond, "allow", false, time.Second}, // rounded up to whole seconds
			{500 * time.Millisecond, "allow", true, 0},
			{0, "fail", false, 2 * time.Second},
			{time.Second, "allow", false, time.Second},
			{time.Second, "allow", true, 0},
			{0, "fail", false, 4 * time.Second},
			{4 * time.Second, "fail", false, 5 * time.Second}, // 8s capped at 5s
			{5 * time.Second, "fail", false, 5 * time.Second},
			{0, "allow", false, 5 * time.Second},
		}},
		{"success forgets the failures", Config{Free: 1, Base: time.Minute}, []step{
			{0, "fail", false, 0},
			{0, "fail", false, time.Minute},
			{time.Minute, "succeed", false, 0},
			{0, "fail", false, 0}, // free again
			{0, "allow", true, 0},
		}},
		{"old failures forgotten", Config{Free: 1, Base: time.Minute, Max: time.Minute, Forget: time.Hour}, []step{
			{0, "fail", false, 0},
			{59 * time.Minute, "fail", false, time.Minute},
			{59 * time.Minute, "fail", false, time.Minute}, // last failure 59 min ago: still counted
			{time.Hour, "fail", false, 0},                  // an hour without failure: forgotten
		}},
		{"defaults", Config{}, []step{
			{0, "fail", false, 0}, {0, "fail", false, 0}, {0, "fail", false, 0}, {0, "fail", false, 0},
			{0, "fail", false, 0},
			{0, "fail", false, DefaultBase},
			{0, "allow", false, time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := newClock()
			l := New(tt.cfg, c.now)
			for i, s := range tt.steps {
				c.advance(s.advance)
				switch s.op {
				case "allow":
					ok, after := l.Allow("alice")
					if ok != s.wantOK || after != s.wantAfter {
						t.Errorf("step %d: Allow = %v, %v; want %v, %v", i, ok, after, s.wantOK, s.wantAfter)
					}
				case "fail":
					if w := l.Fail("alice"); w != s.wantAfter {
						t.Errorf("step %d: Fail = %v, want %v", i, w, s.wantAfter)
					}
				case "succeed":
					l.Succeed("alice")
				}
			}
		})
	}
}

func TestKeysIndependent(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 1}, c.now)
	l.Fail("alice")
	l.Fail("alice")
	if ok, _ := l.Allow("alice"); ok {
		t.Error("alice allowed")
	}
	if ok, _ := l.Allow("bob"); !ok {
		t.Error("bob refused")
	}
	if ok, _ := l.Allow("ip:192.0.2.1"); !ok {
		t.Error("address refused")
	}
}

func TestBoundedMemory(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 1, MaxKeys: 100, Base: time.Hour}, c.now)
	// The attacked account is locked out.
	l.Fail("admin")
	l.Fail("admin")
	// A flood of distinct keys, one failure each.
	for i := range 100000 {
		l.Fail(fmt.Sprintf("ip:%d", i))
	}
	if n := l.Len(); n != 100 {
		t.Errorf("%d keys remembered, want 100", n)
	}
	if ok, _ := l.Allow("admin"); ok {
		t.Error("the flood of distinct keys freed the locked-out account")
	}
	// Very long keys are remembered by digest, not whole.
	long := strings.Repeat("x", 1<<20)
	l.Fail(long)
	l.Fail(long)
	if ok, _ := l.Allow(long); ok {
		t.Error("long key not throttled")
	}
	l.mu.Lock()
	for k := range l.keys {
		if len(k) > maxKeyLen {
			t.Errorf("key of %d bytes kept", len(k))
		}
	}
	l.mu.Unlock()
}

func TestEvictsOldestWhenAllLocked(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 1, MaxKeys: 3, Base: time.Hour}, c.now)
	for _, k := range []string{"a", "b", "c", "d"} {
		l.Fail(k)
		l.Fail(k) // locked
		c.advance(time.Second)
	}
	if n := l.Len(); n != 3 {
		t.Fatalf("%d keys", n)
	}
	if ok, _ := l.Allow("a"); !ok {
		t.Error("oldest locked key kept although the limiter was full")
	}
	if ok, _ := l.Allow("d"); ok {
		t.Error("newest key forgotten")
	}
}

func TestConcurrent(t *testing.T) {
	c := newClock()
	l := New(Config{Free: 1000, MaxKeys: 50}, c.now)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprintf("k%d", (g*7+i)%80)
				l.Allow(k)
				l.Fail(k)
				if i%10 == 0 {
					l.Succeed(k)
				}
				c.advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 50 {
		t.Errorf("%d keys", n)
	}
}

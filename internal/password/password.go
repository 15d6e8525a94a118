// Package password holds what the server knows about passwords and secrets: the policy
// of console passwords (length, a list of common passwords shipped with the project),
// bcrypt hashing, checks of unknown users that cost no bcrypt, and the strength check of
// configured secrets (enrollment secrets and tokens).
package password

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/openwua/waptwua/internal/wu"
)

// Limits of a console password. bcrypt reads at most 72 bytes.
const (
	MinLen = 12
	MaxLen = 72
)

// DefaultCost is the bcrypt cost of new hashes.
const DefaultCost = bcrypt.DefaultCost

// DummyHash is a bcrypt hash (cost 10) of a random password that was thrown away when
// it was made. Use it as the hash of a user that does not exist: Check and Verify know it
// and answer false without running bcrypt.
const DummyHash = "$2a$10$2OohcSBQ.8UrWTtvbcZL5ubFsxrN.Zf.LE4zLkmjOc2qnihkVJZlC"

// ErrPolicy is wrapped by every refusal of Validate.
var ErrPolicy = errors.New("password refused by the password policy")

//go:embed common.txt
var commonText string

//go:embed examples.txt
var examplesText string

// wordSet reads a list of one entry a line, # comments, lower-cased.
func wordSet(text string) map[string]struct{} {
	set := make(map[string]struct{})
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		w := strings.ToLower(strings.TrimSpace(sc.Text()))
		if w != "" && !strings.HasPrefix(w, "#") {
			set[w] = struct{}{}
		}
	}
	return set
}

// lists are read once; they are constants in all but type.
var lists = sync.OnceValues(func() (common, examples map[string]struct{}) {
	return wordSet(commonText), wordSet(examplesText)
})

// Validate checks a new console password: at least MinLen characters, at most MaxLen
// bytes, not one of the common passwords shipped with the project (case-insensitive, also
// with digits or symbols around it, common letter substitutions such as p@ssw0rd, or
// repeated), not a user input (the user name), and not a run or repeat of characters.
// Errors wrap ErrPolicy and say what to do; they never quote the password.
func Validate(password string, userInputs ...string) error {
	if n := utf8.RuneCountInString(password); n < MinLen {
		return fmt.Errorf("%w: too short (%d characters): use at least %d, e.g. a few unrelated words", ErrPolicy, n, MinLen)
	}
	if len(password) > MaxLen {
		return fmt.Errorf("%w: too long: at most %d bytes", ErrPolicy, MaxLen)
	}
	common, _ := lists()
	forms := variants(password)
	for _, f := range forms {
		if _, ok := common[f]; ok {
			return fmt.Errorf("%w: it is (a variant of) a common password that attackers try first: choose another", ErrPolicy)
		}
	}
	for _, in := range userInputs {
		in = strings.ToLower(strings.TrimSpace(in))
		if len(in) < 3 {
			continue
		}
		for _, f := range forms {
			if f == in {
				return fmt.Errorf("%w: it is the user name (or a variant of it): choose another", ErrPolicy)
			}
		}
	}
	if EstimateBits(password) < minPasswordBits {
		return fmt.Errorf("%w: too predictable (repeated characters or a sequence such as abcd or 1234): choose another", ErrPolicy)
	}
	return nil
}

// minPasswordBits: a password below this estimate is a run or repeat (12 random lower-case
// letters estimate at 56 bits).
const minPasswordBits = 40

// variants are the forms of a password compared with the list: lower-cased; digits and
// symbols around it trimmed; common substitutions undone; letters only; a repeated unit.
func variants(password string) []string {
	l := strings.ToLower(password)
	core := strings.TrimFunc(l, notLetter)
	forms := []string{l, core, deleet(core), strings.TrimFunc(deleet(l), notLetter), lettersOnly(deleet(l)), lettersOnly(l)}
	for _, f := range forms[:len(forms):len(forms)] {
		if u := repeatedUnit(f); u != "" {
			forms = append(forms, u)
		}
	}
	return forms
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }

func lettersOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, s)
}

var leet = strings.NewReplacer("@", "a", "4", "a", "0", "o", "1", "i", "!", "i", "3", "e", "$", "s", "5", "s", "7", "t", "+", "t", "9", "g", "8", "b")

func deleet(s string) string { return leet.Replace(s) }

// repeatedUnit returns u when s is u repeated at least twice, else "".
func repeatedUnit(s string) string {
	for n := 1; n <= len(s)/2; n++ {
		if len(s)%n == 0 && strings.Repeat(s[:n], len(s)/n) == s {
			return s[:n]
		}
	}
	return ""
}

// Hash hashes a password with bcrypt at cost (0: DefaultCost).
func Hash(password string, cost int) (string, error) {
	if cost == 0 {
		cost = DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Check reports whether password matches hash. An empty hash or DummyHash (an unknown
// user) is false at once, without bcrypt: a flood of logins with unknown names costs no
// CPU. Timing then tells an unknown name from a wrong password; Verifier.Verify hides
// that with a wait, and the login throttle bounds how many names can be tried.
func Check(hash, password string) bool {
	if hash == "" || hash == DummyHash {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// Verifier checks passwords like Check, and makes the answer for an unknown user (empty
// hash or DummyHash) take about as long as a real check, by waiting, not computing: it
// keeps a running average of the real checks' durations. Safe for concurrent use.
type Verifier struct {
	mu    sync.Mutex
	avg   time.Duration
	now   func() time.Time
	sleep func(context.Context, time.Duration)
}

// initialEstimate is the wait for unknown users before any real check was timed (bcrypt
// cost 10 on a current server core).
const initialEstimate = 60 * time.Millisecond

// NewVerifier makes a Verifier. now and sleep may be nil (time.Now and a context-aware
// timer); tests inject their own.
func NewVerifier(now func() time.Time, sleep func(context.Context, time.Duration)) *Verifier {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	return &Verifier{avg: initialEstimate, now: now, sleep: sleep}
}

// Verify reports whether password matches hash (see Check). For an unknown user it waits
// the average duration of real checks (or until ctx ends) and returns false.
func (v *Verifier) Verify(ctx context.Context, hash, password string) bool {
	if hash == "" || hash == DummyHash {
		v.mu.Lock()
		d := v.avg
		v.mu.Unlock()
		v.sleep(ctx, d)
		return false
	}
	start := v.now()
	ok := Check(hash, password)
	took := v.now().Sub(start)
	v.mu.Lock()
	v.avg += (took - v.avg) / 8
	v.mu.Unlock()
	return ok
}

// Estimate returns the current wait for unknown users.
func (v *Verifier) Estimate() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.avg
}

// MinSecretBits is the strength CheckSecret requires.
const MinSecretBits = 128

// secretAdvice is how to make a good secret.
const secretAdvice = "generate one with `openssl rand -hex 32`"

// CheckSecret refuses a configured secret (enrollment secret or token) that estimates
// under MinSecretBits bits (EstimateBits) or is an example from the documentation. The
// error names key and the fix and never contains the value.
func CheckSecret(key, value string) error {
	v := strings.TrimSpace(value)
	if v == "" {
		return fmt.Errorf("%s: empty: %s", key, secretAdvice)
	}
	_, examples := lists()
	if _, ok := examples[strings.ToLower(v)]; ok {
		return fmt.Errorf("%s: is an example value from the documentation, known to everyone: %s", key, secretAdvice)
	}
	if b := EstimateBits(v); b < MinSecretBits {
		return fmt.Errorf("%s: too weak (about %d bits of entropy, want at least %d; repeats and sequences count little): %s",
			key, int(b), MinSecretBits, secretAdvice)
	}
	return nil
}

// EstimateBits estimates the entropy of s, in bits, as a random string's would be: its
// length in characters times log2 of the size of the alphabet it draws from (16 when it
// is all hexadecimal digits; else the sum of the classes used: 26 lower-case, 26
// upper-case, 10 digits, 33 ASCII symbols, 100 for any other character). Characters that
// continue a run of constant step beyond 4 (aaaaa, abcde, 13579) or end a 4-character
// sequence seen before (abcdabcd) do not count. A UUID counts 122 bits. This is a bound
// for guessable human-made strings, not a proof of randomness.
func EstimateBits(s string) float64 {
	if wu.IsGUID(s) {
		return 122
	}
	rs := []rune(s)
	if len(rs) == 0 {
		return 0
	}
	eff := 0
	seen := make(map[[4]rune]struct{})
	for i, r := range rs {
		if i >= 4 {
			d := r - rs[i-1]
			if d == rs[i-1]-rs[i-2] && d == rs[i-2]-rs[i-3] && d == rs[i-3]-rs[i-4] {
				continue
			}
		}
		if i >= 3 {
			g := [4]rune{rs[i-3], rs[i-2], rs[i-1], r}
			if _, dup := seen[g]; dup {
				continue
			}
			seen[g] = struct{}{}
		}
		eff++
	}
	return float64(eff) * math.Log2(float64(alphabet(rs)))
}

func alphabet(rs []rune) int {
	var lower, upper, digit, symbol, other bool
	for _, r := range rs {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case r < utf8.RuneSelf:
			symbol = true
		default:
			other = true
		}
	}
	hexOnly := !symbol && !other && !(lower && upper)
	if hexOnly {
		for _, r := range rs {
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				hexOnly = false
				break
			}
		}
	}
	if hexOnly && (lower || upper) {
		return 16
	}
	n := 0
	for _, c := range []struct {
		used bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {symbol, 33}, {other, 100}} {
		if c.used {
			n += c.size
		}
	}
	return max(n, 2)
}

package password

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		password string
		user     string
		want     string // "" = accepted; else a word of the error
	}{
		{"correct horse battery staple", "", ""},
		{"Tr0ub4dor&3-extended", "", ""},
		{"vXq9#mPz2!Lw", "", ""},
		{"elephants-eat-quietly", "", ""},
		{"short1!", "", "too short"},
		{"élan-vital-été", "", ""}, // 14 characters, more bytes
		{"ÉÉÉÉÉÉÉÉÉÉÉ", "", "too short"},
		{strings.Repeat("x", 73), "", "too long"},
		{"password1234", "", "common password"},
		{"PASSWORD1234", "", "common password"},
		{"P@ssw0rd2024!", "", "common password"},
		{"passwordpassword", "", "common password"},
		{"2024!Sunshine!!", "", "common password"},
		{"qwertyuiop123", "", "common password"},
		{"azertyuiop!!", "", "common password"},
		{"m.o.t.d.e.p.a.s.s.e.!!", "", "common password"},
		{"Administrator1", "", "common password"},
		{"iloveyou2026!", "", "common password"},
		{"jean-claude-42", "jean-claude", "user name"},
		{"Jean-Claude-1999", "jean-claude", "user name"},
		{"aaaaaaaaaaaaaaaa", "", "too predictable"},
		{"abcdefghijklmnop", "", "common password"},
		{"mnopqrstuvwxyz", "", "too predictable"},
		{"123456789012345", "", "too predictable"},
		{"xkcdxkcdxkcdxkcd", "", "too predictable"},
	}
	for _, tt := range tests {
		err := Validate(tt.password, tt.user)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%q) = %v", tt.password, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%q) = %v, want an error with %q", tt.password, err, tt.want)
		}
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Errorf("Validate(%q): %v does not wrap ErrPolicy", tt.password, err)
			}
			if strings.Contains(err.Error(), tt.password) {
				t.Errorf("error quotes the password: %v", err)
			}
		}
	}
}

func TestCommonList(t *testing.T) {
	common, _ := lists()
	if len(common) < 1000 {
		t.Errorf("common password list has %d entries", len(common))
	}
	for _, w := range []string{"password", "123456", "qwerty", "azerty", "iloveyou", "motdepasse", "letmein", "1qaz2wsx"} {
		if _, ok := common[w]; !ok {
			t.Errorf("%q missing from the list", w)
		}
	}
}

func TestHashAndCheck(t *testing.T) {
	h, err := Hash("a good long passphrase", 4)
	if err != nil {
		t.Fatal(err)
	}
	if !Check(h, "a good long passphrase") || Check(h, "a good long passphrasE") {
		t.Error("Check of the right/wrong password")
	}
	if Check("", "") || Check(DummyHash, "") {
		t.Error("empty or dummy hash accepted")
	}
	if _, err := Hash(strings.Repeat("x", 73), 4); err == nil {
		t.Error("73-byte password hashed (bcrypt would ignore the end)")
	}
}

// TestUnknownUserCostsNoBcrypt: Check and Verify of DummyHash take microseconds, where a
// real bcrypt check of cost 10 takes tens of milliseconds.
func TestUnknownUserCostsNoBcrypt(t *testing.T) {
	start := time.Now()
	for range 1000 {
		Check(DummyHash, "guess")
	}
	per := time.Since(start) / 1000
	t.Logf("Check(DummyHash): %v per call", per)
	if per > time.Millisecond {
		t.Errorf("Check(DummyHash) takes %v: it runs bcrypt", per)
	}
	// The dummy hash is a real bcrypt hash of cost DefaultCost (and no known password).
	if c, err := bcryptCost(DummyHash); err != nil || c != DefaultCost {
		t.Errorf("DummyHash cost %d, %v", c, err)
	}
}

func TestVerifierWaitsInsteadOfComputing(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	fake := time.Unix(0, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return fake }
	v := NewVerifier(now, func(_ context.Context, d time.Duration) { mu.Lock(); slept = append(slept, d); mu.Unlock() })
	if v.Verify(context.Background(), DummyHash, "x") || v.Verify(context.Background(), "", "x") {
		t.Fatal("unknown user accepted")
	}
	if len(slept) != 2 || slept[0] != initialEstimate {
		t.Fatalf("slept %v", slept)
	}
	// Real checks move the estimate toward their duration (here 0 on the frozen clock).
	h, _ := Hash("a good long passphrase", 4)
	for range 40 {
		if !v.Verify(context.Background(), h, "a good long passphrase") {
			t.Fatal("right password refused")
		}
	}
	if e := v.Estimate(); e >= initialEstimate/100 {
		t.Errorf("estimate %v after 40 instant checks", e)
	}
	// The real timer honours the context.
	real := NewVerifier(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	real.Verify(ctx, DummyHash, "x")
	if d := time.Since(start); d > initialEstimate/2 {
		t.Errorf("cancelled wait took %v", d)
	}
}

func TestCheckSecret(t *testing.T) {
	random := func(n int) []byte { b := make([]byte, n); _, _ = rand.Read(b); return b }
	tests := []struct {
		value string
		want  string // "" accepted
	}{
		{hex.EncodeToString(random(32)), ""},                   // openssl rand -hex 32
		{base64.StdEncoding.EncodeToString(random(24)), ""},    // openssl rand -base64 24
		{base64.RawURLEncoding.EncodeToString(random(32)), ""}, // a generated token
		{"dev-secret-0123456789abcdef", "example value"},       // the README's
		{"DEV-SECRET-0123456789ABCDEF", "example value"},       // ignoring case
		{"aaaaaaaaaaaaaaaa", "example value"},                  // the issue's
		{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "too weak"},
		{"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", "too weak"},
		{"0123456789abcdef0123456789abcdeg", "too weak"},
		{"correct-horse-battery", "too weak"},
		{"6f1c2e1a-6d0e-4a55-9c3e-2b1f0a9d8c7e", "too weak"}, // a UUID: 122 bits
		{"", "empty"},
		{"   ", "empty"},
	}
	for _, tt := range tests {
		err := CheckSecret("enrollment_secret", tt.value)
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckSecret(%q) = %v", tt.value, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckSecret(%q) = %v, want %q", tt.value, err, tt.want)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "enrollment_secret: ") || !strings.Contains(msg, "openssl rand -hex 32") {
			t.Errorf("message %q does not name the key and the fix", msg)
		}
		if strings.TrimSpace(tt.value) != "" && strings.Contains(msg, tt.value) {
			t.Errorf("message %q shows the secret", msg)
		}
	}
	// 128-bit random hex passes nearly always (the run and repeat penalties hit ~1% of them).
	pass := 0
	for range 1000 {
		if CheckSecret("k", hex.EncodeToString(random(16))) == nil {
			pass++
		}
	}
	t.Logf("openssl rand -hex 16 accepted %d times in 1000", pass)
	if pass < 950 {
		t.Errorf("128-bit hex secrets accepted only %d times in 1000", pass)
	}
}

func TestEstimateBits(t *testing.T) {
	tests := []struct {
		s    string
		want float64
	}{
		{"", 0},
		{"ab", 2 * 4}, // hex alphabet
		{"zz", 2 * 4.700439718141092},
		{"aaaaaaaa", 4 * 4},     // a run counts 4 characters
		{"abcabcabcabc", 6 * 4}, // repeats of "abca", "bcab", "cabc" do not count
		{"13579bdf", 7 * 4},     // 1357 count, 9 continues the run, b (step 41) starts another
		{"0123456789", 4 * 3.3219280948873626},
	}
	for _, tt := range tests {
		if got := EstimateBits(tt.s); abs(got-tt.want) > 0.01 {
			t.Errorf("EstimateBits(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// TestDocExamplesRefused finds every secret the README and docs show (enrollment_secret =
// X, --secret X, "secret": "X") and checks that CheckSecret refuses it, so that adding an
// example to the docs without adding it to examples.txt (or making it weak) fails here.
func TestDocExamplesRefused(t *testing.T) {
	root := filepath.Join("..", "..")
	files := []string{filepath.Join(root, "README.md")}
	for _, pattern := range []string{"docs/*.md", "docs/*/*.md", "docs/*.yaml"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		files = append(files, m...)
	}
	re := regexp.MustCompile(`(?i)(?:secret|token)\s*(?:=|:)\s*"?([A-Za-z0-9._~+/=-]{8,})|--(?:secret|token)[ =]([A-Za-z0-9._~+/=-]{8,})`)
	found := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			v := m[1] + m[2]
			if strings.HasPrefix(v, "$") || strings.EqualFold(v, "required") {
				continue
			}
			found++
			if err := CheckSecret("enrollment_secret", v); err == nil {
				t.Errorf("%s shows the secret %q and CheckSecret accepts it: add it to examples.txt", f, v)
			}
		}
	}
	if found == 0 {
		t.Error("no example secret found in the docs: the search is broken")
	}
	t.Logf("%d example secrets found in %d files", found, len(files))
}

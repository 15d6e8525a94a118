package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/openwua/waptwua/internal/store"
)

// User is an authenticated console or admin API user.
type User struct {
	Name string     `json:"username"`
	Role store.Role `json:"role"`
}

// CanChange reports whether the user may change anything (role admin).
func (u User) CanChange() bool { return u.Role == store.RoleAdmin }

type userKey struct{}

// ContextWithUser returns ctx carrying u (the auth middleware does it).
func ContextWithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFromContext returns the user the auth middleware authenticated.
func UserFromContext(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// Errors of an Authenticator.
var (
	// ErrNoCredentials: the request carries no credentials this authenticator reads;
	// the next one is tried.
	ErrNoCredentials = errors.New("no credentials")
	// ErrBadCredentials: credentials were given and are wrong (or expired); 401.
	ErrBadCredentials = errors.New("invalid credentials")
)

// Authenticator finds the user of a request: ErrNoCredentials when the request has none
// of its kind, ErrBadCredentials (possibly wrapped) when they are wrong.
type Authenticator interface {
	Authenticate(r *http.Request) (User, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (User, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (User, error) { return f(r) }

// Authenticate finds the user of an admin request: the extra authenticators first
// (WithAuthenticator), then HTTP Basic, then a bearer session token from
// /api/v1/admin/login.
func (s *Server) Authenticate(r *http.Request) (User, error) {
	for _, a := range s.authenticators {
		u, err := a.Authenticate(r)
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		return u, err
	}
	if name, password, ok := r.BasicAuth(); ok {
		return s.Login(r.Context(), name, password)
	}
	if tok, ok := bearer(r); ok {
		return s.VerifySession(r.Context(), tok)
	}
	return User{}, ErrNoCredentials
}

// Login checks a user name and password. Unknown users cost as much time as wrong
// passwords, so that timing does not tell which names exist.
func (s *Server) Login(ctx context.Context, name, password string) (User, error) {
	u, err := s.store.GetUser(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		CheckPassword(s.dummyPasswordHash(), password)
		return User{}, fmt.Errorf("user %q: %w", name, ErrBadCredentials)
	}
	if err != nil {
		return User{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	if !CheckPassword(u.PasswordHash, password) {
		return User{}, fmt.Errorf("user %q: wrong password: %w", name, ErrBadCredentials)
	}
	return User{Name: u.Username, Role: u.Role}, nil
}

func (s *Server) dummyPasswordHash() string {
	s.dummyOnce.Do(func() {
		h, err := HashPassword(randomToken(16), s.passwordCost)
		if err == nil {
			s.dummyHash = h
		}
	})
	return s.dummyHash
}

// RequireUser lets authenticated users through with their User in the context; 401
// otherwise. With change set, only admins (403 for read-only users).
func (s *Server) RequireUser(change bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.Authenticate(r)
		switch {
		case err == nil:
		case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrBadCredentials):
			w.Header().Set("WWW-Authenticate", `Basic realm="waptserver", charset="UTF-8"`)
			msg := "authentication required: HTTP Basic with a console user, or a bearer token from POST /api/v1/admin/login"
			if errors.Is(err, ErrBadCredentials) {
				msg = "invalid credentials"
				s.log.InfoContext(r.Context(), "admin authentication failed", "remote", r.RemoteAddr, "err", err)
			}
			writeErrorBody(w, http.StatusUnauthorized, "", msg)
			return
		default:
			s.fail(w, r, err)
			return
		}
		if change && !u.CanChange() {
			writeErrorBody(w, http.StatusForbidden, "", fmt.Sprintf("user %q has role %s: only admin users may change anything", u.Name, u.Role))
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithUser(r.Context(), u)))
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// DefaultPasswordCost is the bcrypt cost of stored passwords.
const DefaultPasswordCost = bcrypt.DefaultCost

// Password limits: bcrypt reads at most 72 bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// HashPassword hashes a console password with bcrypt (cost 0: DefaultPasswordCost).
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = DefaultPasswordCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches a HashPassword hash.
func CheckPassword(hash, password string) bool {
	return hash != "" && bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidateUsername checks a console user name: 1 to 64 letters, digits, '.', '_', '@'
// or '-', starting with a letter or digit.
func ValidateUsername(name string) error {
	if !usernameRE.MatchString(name) {
		return fmt.Errorf("user name %q: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ValidatePassword checks a new console password's length.
func ValidatePassword(password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Errorf("password too short: at least %d characters", MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return fmt.Errorf("password too long: at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// ParseRole accepts admin or read-only (also readonly, read_only).
func ParseRole(s string) (store.Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "admin":
		return store.RoleAdmin, nil
	case "read-only", "readonly", "read_only":
		return store.RoleReadOnly, nil
	}
	return "", fmt.Errorf("role %q: want admin or read-only", s)
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics when the OS cannot supply randomness)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Host credentials: "<id>.<secret>", id 32 hex digits naming the credential, secret 32
// random bytes. The store keeps SHA-256 of the whole credential: the secret has full
// entropy, so a slow hash would add nothing.
func newHostCredential() (id, credential string, hash []byte) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id = hex.EncodeToString(b)
	credential = id + "." + randomToken(32)
	sum := sha256.Sum256([]byte(credential))
	return id, credential, sum[:]
}

// parseHostCredential splits a credential and checks its shape.
func parseHostCredential(credential string) (id string, ok bool) {
	id, secret, found := strings.Cut(credential, ".")
	if !found || len(id) != 32 || len(secret) < 16 || len(credential) > 256 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

func credentialMatches(credential string, hash []byte) bool {
	sum := sha256.Sum256([]byte(credential))
	return len(hash) == len(sum) && subtle.ConstantTimeCompare(sum[:], hash) == 1
}

// secretEqual compares two secrets in constant time whatever their lengths.
func secretEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// sessions signs and checks admin session tokens: "ws1.<payload>.<mac>", payload the
// base64url JSON of the user name, expiry and a fingerprint of the password hash (a new
// password ends the user's sessions). The user's role is read again at every request.
type sessions struct {
	key []byte
	ttl time.Duration
}

func newSessions() *sessions {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &sessions{key: key, ttl: DefaultSessionTTL}
}

type sessionPayload struct {
	User    string `json:"u"`
	Expires int64  `json:"x"`
	Print   string `json:"p"`
}

const sessionPrefix = "ws1."

func passwordPrint(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8])
}

func (ss *sessions) mac(payload string) string {
	m := hmac.New(sha256.New, ss.key)
	m.Write([]byte(sessionPrefix + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// IssueSession makes a session token for user name (who must exist), valid for the
// session TTL. The console may carry it in a cookie and check it with VerifySession.
func (s *Server) IssueSession(ctx context.Context, name string) (token string, expires time.Time, err error) {
	u, err := s.store.GetUser(ctx, name)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue session: %w", err)
	}
	expires = s.now().Add(s.sessions.ttl).Truncate(time.Second)
	p, err := json.Marshal(sessionPayload{User: u.Username, Expires: expires.Unix(), Print: passwordPrint(u.PasswordHash)})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue session: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(p)
	return sessionPrefix + payload + "." + s.sessions.mac(payload), expires, nil
}

// VerifySession checks a session token and returns its user with the current role.
func (s *Server) VerifySession(ctx context.Context, token string) (User, error) {
	rest, ok := strings.CutPrefix(token, sessionPrefix)
	if !ok || len(token) > 1024 {
		return User{}, fmt.Errorf("session token: unknown format: %w", ErrBadCredentials)
	}
	payload, mac, ok := strings.Cut(rest, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.sessions.mac(payload))) {
		return User{}, fmt.Errorf("session token: bad signature: %w", ErrBadCredentials)
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return User{}, fmt.Errorf("session token: %w", ErrBadCredentials)
	}
	var p sessionPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return User{}, fmt.Errorf("session token: %w", ErrBadCredentials)
	}
	if !s.now().Before(time.Unix(p.Expires, 0)) {
		return User{}, fmt.Errorf("session token expired (log in again): %w", ErrBadCredentials)
	}
	u, err := s.store.GetUser(ctx, p.User)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, fmt.Errorf("session of deleted user %q: %w", p.User, ErrBadCredentials)
	}
	if err != nil {
		return User{}, fmt.Errorf("session: look up user %q: %w", p.User, err)
	}
	if subtle.ConstantTimeCompare([]byte(passwordPrint(u.PasswordHash)), []byte(p.Print)) != 1 {
		return User{}, fmt.Errorf("session of user %q ended by a password change: %w", p.User, ErrBadCredentials)
	}
	return User{Name: u.Username, Role: u.Role}, nil
}

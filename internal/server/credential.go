package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

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

package pkg

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// encryptPKCS8 is the inverse of decryptPKCS8 (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC),
// written independently from the RFC for the tests.
func encryptPKCS8(t *testing.T, der, password []byte) []byte {
	t.Helper()
	salt, iv := make([]byte, 16), make([]byte, 16)
	rand.Read(salt)
	rand.Read(iv)
	const rounds = 2048
	key, err := pbkdf2.Key(sha256.New, string(password), salt, rounds, 32)
	if err != nil {
		t.Fatal(err)
	}
	pad := 16 - len(der)%16
	plain := append(append([]byte{}, der...), make([]byte, pad)...)
	for i := len(der); i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	block, _ := aes.NewCipher(key)
	enc := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(enc, plain)
	mustMarshal := func(v any) asn1.RawValue {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return asn1.RawValue{FullBytes: b}
	}
	kdf := pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: mustMarshal(struct {
		Salt   []byte
		Rounds int
		PRF    pkix.AlgorithmIdentifier
	}{salt, rounds, pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}})}
	scheme := pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: mustMarshal(iv)}
	info := encryptedPrivateKeyInfo{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: mustMarshal(pbes2Params{kdf, scheme})},
		Data:      enc,
	}
	b, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: b})
}

func TestParsePrivateKey(t *testing.T) {
	id := pkiOnce().self
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(id.key)
	plainPKCS8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	plainPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(id.key)})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.cert.Raw})
	encrypted := encryptPKCS8(t, pkcs8, []byte("correct horse"))

	tests := []struct {
		desc     string
		pem      []byte
		password string
		wantErr  error  // nil: the key must parse and match
		wantMsg  string // for errors without a sentinel
	}{
		{desc: "PKCS#8", pem: plainPKCS8},
		{desc: "PKCS#1", pem: plainPKCS1},
		{desc: "certificate then key, as WAPT .pem files hold", pem: append(append([]byte{}, certPEM...), plainPKCS8...)},
		{desc: "unencrypted key, password ignored", pem: plainPKCS8, password: "unused"},
		{desc: "encrypted PKCS#8, right password", pem: encrypted, password: "correct horse"},
		{desc: "encrypted PKCS#8, wrong password", pem: encrypted, password: "battery staple", wantErr: ErrKeyPassword},
		{desc: "encrypted PKCS#8, no password", pem: encrypted, wantErr: ErrKeyPassword},
		{desc: "no key", pem: certPEM, wantMsg: "no private key in the PEM data"},
		{desc: "garbage", pem: []byte("hello"), wantMsg: "no private key in the PEM data"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			k, err := ParsePrivateKey(tt.pem, []byte(tt.password))
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %v, want %q", err, tt.wantMsg)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if err := checkSignerKey(k, id.cert); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestParsePrivateKeyOpenSSL reads keys encrypted by openssl: PKCS#8 PBES2 with the
// ciphers and PRFs administrators meet, and the legacy "Proc-Type: 4,ENCRYPTED" format.
func TestParsePrivateKeyOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not installed: interoperability with openssl-encrypted keys cannot be checked (apt-get install -y openssl; make test installs it)")
	}
	id := pkiOnce().self
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(id.key)
	if err := os.WriteFile(plain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	variants := []struct {
		desc string
		args []string
	}{
		{"pkcs8 aes-256-cbc hmacWithSHA256 (openssl 3 default)", []string{"pkcs8", "-topk8", "-v2", "aes-256-cbc"}},
		{"pkcs8 aes-128-cbc hmacWithSHA1", []string{"pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"}},
		{"pkcs8 des3 hmacWithSHA512", []string{"pkcs8", "-topk8", "-v2", "des3", "-v2prf", "hmacWithSHA512"}},
		{"legacy traditional aes256 (deprecated format)", []string{"rsa", "-aes256", "-traditional"}},
	}
	for i, v := range variants {
		t.Run(v.desc, func(t *testing.T) {
			out := filepath.Join(dir, "enc"+string(rune('a'+i))+".pem")
			args := append(append([]string{}, v.args...), "-in", plain, "-out", out, "-passout", "pass:s3cret")
			if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
				t.Skipf("openssl %s: %v: %s", strings.Join(v.args, " "), err, b)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			k, err := ParsePrivateKey(data, []byte("s3cret"))
			if err != nil {
				t.Fatalf("right password: %v", err)
			}
			if err := checkSignerKey(k, id.cert); err != nil {
				t.Fatal(err)
			}
			if _, err := ParsePrivateKey(data, []byte("wrong")); !errors.Is(err, ErrKeyPassword) {
				t.Fatalf("wrong password: err = %v, want ErrKeyPassword", err)
			}
		})
	}
}

func TestSignRefusesMismatchedKey(t *testing.T) {
	p := pkiOnce()
	pk, err := Build(sampleSpec())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Sign(pk, p.self.key, []*x509.Certificate{p.signer.cert}, testNow)
	if err == nil || !strings.Contains(err.Error(), `the private key does not belong to certificate "Acme Rules Signer"`) {
		t.Errorf("err = %v", err)
	}
	_, err = Sign(pk, p.signer.key, []*x509.Certificate{p.signer.cert}, testNow.AddDate(5, 0, 0))
	if err == nil || !strings.Contains(err.Error(), "renew it") {
		t.Errorf("expired: err = %v", err)
	}
}

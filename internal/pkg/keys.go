package pkg

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
)

// MinRSABits is the smallest RSA key Sign uses and Verify accepts.
const MinRSABits = 2048

// Fingerprint is the original's certificate fingerprint: the lower-case hex SHA-256 of
// the certificate's DER encoding.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseCertificates reads PEM certificates (any number, other PEM blocks skipped) or one
// DER certificate.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		return out, nil
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, errors.New("no PEM certificate, and not a DER certificate")
	}
	return []*x509.Certificate{c}, nil
}

// ParsePrivateKey reads the first private key of a PEM file (WAPT's .pem files may also
// hold certificates): PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY"), PKCS#8
// encrypted with PBES2 ("ENCRYPTED PRIVATE KEY": PBKDF2 with HMAC-SHA-1/224/256/384/512,
// AES-128/192/256-CBC or 3DES-CBC, as openssl pkcs8 -topk8 -v2 and the original write),
// or legacy OpenSSL-encrypted PKCS#1 ("Proc-Type: 4,ENCRYPTED"). The key must be RSA of
// at least MinRSABits. password is used only for encrypted keys; a missing or wrong one
// gives ErrKeyPassword.
func ParsePrivateKey(data, password []byte) (crypto.Signer, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no private key in the PEM data (want a BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY block)")
		}
		switch b.Type {
		case "ENCRYPTED PRIVATE KEY":
			if len(password) == 0 {
				return nil, fmt.Errorf("%w: the key is encrypted, give its password", ErrKeyPassword)
			}
			der, err := decryptPKCS8(b.Bytes, password)
			if err != nil {
				return nil, err
			}
			k, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				// Decryption with a wrong password passes the padding check 1 time in 256.
				return nil, fmt.Errorf("%w: the decrypted key does not parse", ErrKeyPassword)
			}
			return rsaSigner(k)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PKCS#8 private key: %w", err)
			}
			return rsaSigner(k)
		case "RSA PRIVATE KEY":
			der := b.Bytes
			if x509.IsEncryptedPEMBlock(b) {
				if len(password) == 0 {
					return nil, fmt.Errorf("%w: the key is encrypted, give its password", ErrKeyPassword)
				}
				// Legacy "Proc-Type: 4,ENCRYPTED" keys (openssl rsa -aes256 -traditional, old
				// WAPT consoles). x509.DecryptPEMBlock is deprecated because the format is
				// weak (MD5-based key derivation, no integrity check): accepted only to read
				// existing keys; convert them with openssl pkcs8 -topk8 -v2 aes-256-cbc.
				var err error
				der, err = x509.DecryptPEMBlock(b, password)
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrKeyPassword, err)
				}
				k, err := x509.ParsePKCS1PrivateKey(der)
				if err != nil {
					return nil, fmt.Errorf("%w: the decrypted key does not parse", ErrKeyPassword)
				}
				return rsaSigner(k)
			}
			k, err := x509.ParsePKCS1PrivateKey(der)
			if err != nil {
				return nil, fmt.Errorf("PKCS#1 private key: %w", err)
			}
			return rsaSigner(k)
		}
	}
}

func rsaSigner(k any) (crypto.Signer, error) {
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is %T; WAPT packages are signed with RSA keys", k)
	}
	if n := rk.N.BitLen(); n < MinRSABits {
		return nil, fmt.Errorf("the RSA key has %d bits; use at least %d", n, MinRSABits)
	}
	return rk, nil
}

var (
	oidPBES2        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC   = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidScrypt       = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	errConvertPKCS8 = errors.New("convert it with: openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD.pem -out NEW.pem")
)

const maxPBKDF2Rounds = 10_000_000

// pbkdf2PRF maps a PBKDF2 PRF identifier to its hash; nil when unsupported.
func pbkdf2PRF(oid asn1.ObjectIdentifier) func() hash.Hash {
	switch {
	case oid.Equal(oidHMACWithSHA1):
		return sha1.New
	case oid.Equal(oidHMACSHA224):
		return sha256.New224
	case oid.Equal(oidHMACSHA256):
		return sha256.New
	case oid.Equal(oidHMACSHA384):
		return sha512.New384
	case oid.Equal(oidHMACSHA512):
		return sha512.New
	}
	return nil
}

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF        pkix.AlgorithmIdentifier
	Encryption pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt      []byte
	Rounds    int
	KeyLength int                      `asn1:"optional"`
	PRF       pkix.AlgorithmIdentifier `asn1:"optional"`
}

// decryptPKCS8 decrypts an EncryptedPrivateKeyInfo (RFC 5958) protected with PBES2
// (RFC 8018) and returns the PKCS#8 DER.
func decryptPKCS8(der, password []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, errors.New("encrypted private key: not a PKCS#8 EncryptedPrivateKeyInfo")
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("encrypted private key: scheme %v is not PBES2 (old PKCS#12 schemes are not supported); %w", info.Algorithm.Algorithm, errConvertPKCS8)
	}
	var p pbes2Params
	if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
		return nil, errors.New("encrypted private key: bad PBES2 parameters")
	}
	if p.KDF.Algorithm.Equal(oidScrypt) {
		return nil, fmt.Errorf("encrypted private key: scrypt key derivation is not supported; %w", errConvertPKCS8)
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("encrypted private key: key derivation %v is not PBKDF2; %w", p.KDF.Algorithm, errConvertPKCS8)
	}
	var kp pbkdf2Params
	if rest, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil || len(rest) > 0 {
		return nil, errors.New("encrypted private key: bad PBKDF2 parameters")
	}
	if kp.Rounds < 1 || kp.Rounds > maxPBKDF2Rounds {
		return nil, fmt.Errorf("encrypted private key: PBKDF2 iteration count %d is out of range (1 to %d)", kp.Rounds, maxPBKDF2Rounds)
	}
	prf := sha1.New // RFC 8018 default
	if len(kp.PRF.Algorithm) > 0 {
		if prf = pbkdf2PRF(kp.PRF.Algorithm); prf == nil {
			return nil, fmt.Errorf("encrypted private key: PBKDF2 PRF %v is not supported; %w", kp.PRF.Algorithm, errConvertPKCS8)
		}
	}
	var keyLen int
	var newCipher func([]byte) (cipher.Block, error)
	switch enc := p.Encryption.Algorithm; {
	case enc.Equal(oidAES128CBC):
		keyLen, newCipher = 16, aes.NewCipher
	case enc.Equal(oidAES192CBC):
		keyLen, newCipher = 24, aes.NewCipher
	case enc.Equal(oidAES256CBC):
		keyLen, newCipher = 32, aes.NewCipher
	case enc.Equal(oidDESEDE3CBC):
		keyLen, newCipher = 24, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("encrypted private key: cipher %v is not supported (AES-CBC or 3DES-CBC); %w", enc, errConvertPKCS8)
	}
	if kp.KeyLength != 0 && kp.KeyLength != keyLen {
		return nil, fmt.Errorf("encrypted private key: PBKDF2 key length %d does not fit the cipher (%d)", kp.KeyLength, keyLen)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(p.Encryption.Parameters.FullBytes, &iv); err != nil || len(rest) > 0 {
		return nil, errors.New("encrypted private key: bad cipher IV")
	}
	key, err := pbkdf2.Key(prf, string(password), kp.Salt, kp.Rounds, keyLen)
	if err != nil {
		return nil, fmt.Errorf("encrypted private key: %w", err)
	}
	block, err := newCipher(key)
	if err != nil {
		return nil, fmt.Errorf("encrypted private key: %w", err)
	}
	bs := block.BlockSize()
	if len(iv) != bs || len(info.Data) == 0 || len(info.Data)%bs != 0 {
		return nil, errors.New("encrypted private key: ciphertext or IV has the wrong length")
	}
	plain := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.Data)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > bs || !hmac.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, fmt.Errorf("%w: decryption failed", ErrKeyPassword)
	}
	return plain[:len(plain)-pad], nil
}

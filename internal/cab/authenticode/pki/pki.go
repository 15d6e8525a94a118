// Package pki makes a throw-away certificate authority and code-signing certificate,
// for the stand-ins of Microsoft's servers (the demo, end-to-end tests) that sign their
// catalogs with authenticode.Signer, and for tests. Nothing here is trusted unless a
// configuration names the CA (cab_trusted_roots).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Options shape the signer certificate; the zero value gives an RSA code-signing
// certificate "CN=Test Signer" valid from an hour ago for ten years.
type Options struct {
	SignerCN    string
	CAName      string             // "" = "Test Root CA"
	ExtKeyUsage []x509.ExtKeyUsage // nil: code signing
	NotBefore   time.Time
	NotAfter    time.Time
	ECDSA       bool // P-256 keys instead of RSA-2048
}

// PKI is a CA and a signer certificate it issued, with the signer's private key.
type PKI struct {
	CA, Signer *x509.Certificate
	Key        crypto.Signer // the signer's private key
}

// New creates a CA and a signer certificate in memory.
func New(o Options) (*PKI, error) {
	if o.SignerCN == "" {
		o.SignerCN = "Test Signer"
	}
	if o.CAName == "" {
		o.CAName = "Test Root CA"
	}
	if o.ExtKeyUsage == nil {
		o.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.AddDate(10, 0, 0)
	}
	newKey := func() (crypto.Signer, error) {
		if o.ECDSA {
			return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	caKey, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	signerKey, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: o.CAName, Organization: []string{"waptwua tests"}},
		NotBefore:             o.NotBefore.Add(-time.Hour),
		NotAfter:              o.NotAfter.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	ca, err := create(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	leaf, err := create(&x509.Certificate{
		SerialNumber:          big.NewInt(0x1234567),
		Subject:               pkix.Name{CommonName: o.SignerCN},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           o.ExtKeyUsage,
		BasicConstraintsValid: true,
	}, ca, signerKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	return &PKI{CA: ca, Signer: leaf, Key: signerKey}, nil
}

func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return c, nil
}

// Pool returns a pool holding only the CA.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return pool
}

// CAPEM is the CA certificate in PEM, for a cab_trusted_roots file.
func (p *PKI) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CA.Raw})
}

package authenticode

import (
	"crypto/x509"
	"embed"
	"encoding/pem"
	"fmt"
	"io/fs"
)

// Microsoft's two public code-signing roots (public certificates, not secrets): the
// chains of Windows Update content, wsusscn2.cab included, end at one of them
// ("Microsoft Code Signing PCA 2011/2024" chain to the 2011 root, "Microsoft Windows
// Production PCA 2011" to the 2010 root). Their SHA-1 thumbprints, as Windows' root
// store lists them, are pinned by the package's tests:
//
//	Microsoft Root Certificate Authority 2010  3B1EFD3A66EA28B16697394703A72CA340A05BD5
//	Microsoft Root Certificate Authority 2011  8F43288AD272F3103B6FB1428485EA3014C0BCFE
//
//go:embed roots/*.pem
var microsoftRootFiles embed.FS

// MicrosoftRoots returns a new pool holding Microsoft's two code-signing roots: the
// roots the server checks wsusscn2.cab against unless cab_trusted_roots names others.
func MicrosoftRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range MicrosoftRootCertificates() {
		pool.AddCert(c)
	}
	return pool
}

// MicrosoftRootCertificates returns the certificates of MicrosoftRoots.
func MicrosoftRootCertificates() []*x509.Certificate {
	var out []*x509.Certificate
	names, _ := fs.Glob(microsoftRootFiles, "roots/*.pem")
	for _, n := range names {
		data, _ := microsoftRootFiles.ReadFile(n)
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				panic(fmt.Sprintf("authenticode: embedded root %s: %v", n, err)) // the build embeds fixed files
			}
			out = append(out, c)
		}
	}
	return out
}

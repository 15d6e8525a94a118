package e2e

import (
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode"
	"github.com/openwua/waptwua/internal/cab/authenticode/authenticodetest"
)

// signCatalog signs the stand-in's synthetic catalog with a throw-away test root, as
// Microsoft signs wsusscn2.cab. The tests trust that root (jobs.Settings.CabRoots, or
// cab_trusted_roots = its CAFile), so the server's signature check stays on in them.
func signCatalog(t *testing.T, unsigned []byte) ([]byte, *authenticodetest.PKI) {
	t.Helper()
	// Valid from 2020 to 2040: some tests run the server on a fake clock in 2024.
	p := authenticodetest.NewPKI(t, authenticodetest.PKIOptions{SignerCN: "Stand-in Catalog Signer",
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)})
	signed, err := authenticode.Signer{Cert: p.Signer, Key: p.Key}.Sign(unsigned)
	if err != nil {
		t.Fatalf("signing the stand-in's catalog: %v", err)
	}
	return signed, p
}

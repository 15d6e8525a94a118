package main

import (
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode"
	"github.com/spf13/cobra"
)

// newCabVerifyCmd checks the Authenticode signature of a signed cabinet such as
// wsusscn2.cab against Microsoft's built-in roots or the roots given on the command line.
func newCabVerifyCmd() *cobra.Command {
	var roots []string
	cmd := &cobra.Command{
		Use:   "verify FILE [--roots PEM...]",
		Short: "Check the Authenticode signature of a signed cabinet (such as wsusscn2.cab)",
		Long: `Check that FILE carries a valid Authenticode signature: its content matches the
signed digest, the signer signed it, and the signer's certificate chains for code
signing, today, to one of the --roots certificates or, without --roots, to one of
Microsoft's two code-signing roots built into waptserver (the roots the server checks
wsusscn2.cab against by default). Prints the signer and "signature OK", or the reason
and exits with status 1.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("cab verify: expected one FILE, got %d arguments (usage: waptserver cab verify FILE [--roots PEM])", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCabVerify(cmd.OutOrStdout(), args[0], roots, time.Now)
		},
	}
	cmd.Flags().StringArrayVar(&roots, "roots", nil, "trusted root certificates, PEM or DER file (repeat for several; default: Microsoft's built-in roots)")
	return cmd
}

func runCabVerify(out io.Writer, path string, rootFiles []string, now func() time.Time) error {
	pool, err := loadRoots(rootFiles)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cab verify: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cab verify: %w", err)
	}
	res, err := authenticode.Verify(f, st.Size(), authenticode.Options{Roots: pool, Now: now})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(out, "file:       %s\n", path)
	fmt.Fprintf(out, "signer:     %s\n", res.SignerSubject)
	for _, c := range res.Chain[1:] {
		fmt.Fprintf(out, "issued by:  %s\n", c.Subject)
	}
	fmt.Fprintf(out, "algorithm:  %s\n", res.DigestAlgorithm)
	if !res.SigningTime.IsZero() {
		fmt.Fprintf(out, "signed at:  %s (signer's claim)\n", res.SigningTime.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(out, "signature OK")
	return nil
}

// loadRoots reads every --roots file, PEM (any number of certificates) or one DER
// certificate, as Microsoft publishes its roots. No file: Microsoft's built-in roots.
func loadRoots(files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return authenticode.MicrosoftRoots(), nil
	}
	pool := x509.NewCertPool()
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("cab verify: reading --roots: %w", err)
		}
		if pool.AppendCertsFromPEM(b) {
			continue
		}
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("cab verify: --roots %s holds no PEM certificate and is not a DER certificate (give the root certificate file): %w", name, err)
		}
		pool.AddCert(c)
	}
	return pool, nil
}

package pkg

import "errors"

// Sentinel errors of Verify (and of Open, Sign and ParsePrivateKey where they apply).
// Test them with errors.Is; the message around them names the file and the fix.
var (
	// ErrMalformed: not a zip, a hostile zip (too large, too many entries, unsafe or
	// duplicate names), or a control, manifest, certificate or rules file that does not
	// parse; also a package that is not a rules package (section other than wsus).
	ErrMalformed = errors.New("malformed rules package")
	// ErrUnsigned: the package has no signature, manifest or certificate, or its control
	// has no signature.
	ErrUnsigned = errors.New("package is not signed")
	// ErrUntrusted: the signer certificate does not chain to a trusted certificate.
	ErrUntrusted = errors.New("signer is not trusted")
	// ErrBadSignature: a signature does not verify with the signer's key, or the control's
	// signer fields do not describe the certificate in the package.
	ErrBadSignature = errors.New("bad signature")
	// ErrTampered: a file's SHA-256 differs from the signed manifest.
	ErrTampered = errors.New("package tampered")
	// ErrExtraFile: a file in the zip is not covered by the signed manifest.
	ErrExtraFile = errors.New("file not covered by the signed manifest")
	// ErrMissingFile: a file listed in the signed manifest is not in the zip.
	ErrMissingFile = errors.New("file listed in the signed manifest is missing")
	// ErrKeyPassword: the private key is encrypted and the password is missing or wrong.
	ErrKeyPassword = errors.New("private key password missing or wrong")
)

// Package pkg builds, signs and verifies WAPT rules packages: the signed .wapt zips
// (section wsus) that carry a waptwua_rules.json to the agents (REFERENCE §4).
//
// # Layout
//
// A rules package is a zip holding
//
//	WAPT/control                        "key: value" lines (see Control)
//	WAPT/persistent/waptwua_rules.json  the rules (internal/rules)
//	WAPT/certificate.crt                PEM chain, signer first
//	WAPT/manifest.sha256                JSON [["path","sha256hex"], ...] of every file
//	                                    but the manifest and the signature
//	WAPT/signature.sha256               base64 RSA PKCS#1 v1.5 / SHA-256 signature of the
//	                                    exact bytes of WAPT/manifest.sha256
//
// # The control's own signature
//
// The control carries a second signature, over its signed attributes, so that the
// control alone (as copied into a repository's Packages index) can be checked:
// signed_attributes names the attributes (comma-separated, itself included);
// their values, exactly as written in the control, form a JSON object serialised as
// Python's json.dumps(obj, sort_keys=True, separators=(",", ":")) with the default
// ensure_ascii=True (see signedContent); signature is the base64 RSA PKCS#1 v1.5 /
// SHA-256 signature of those bytes; signer_fingerprint is the lower-case hex SHA-256 of
// the signer certificate's DER; signature_date is the UTC signing time written as
// Python's naive datetime.isoformat() ("2026-03-01T14:05:09").
//
// Verify accepts a package only when every check passes, and each failure has its own
// sentinel error (ErrUnsigned, ErrUntrusted, ErrBadSignature, ErrTampered, ErrExtraFile,
// ErrMissingFile, ErrMalformed) and a message naming the file, the cause and the fix.
package pkg

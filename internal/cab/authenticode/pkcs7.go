package authenticode

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // registers crypto.SHA1 for crypto.Hash.New
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The PKCS#7 (RFC 2315) and Authenticode structures we read. Authenticode puts an
// SpcIndirectDataContent, which holds the file digest, as the signed content.

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"optional,tag:0"` // [0] EXPLICIT: unwrap with explicitContent
}

// explicitContent returns the single value inside a ContentInfo's [0] EXPLICIT wrapper.
func (ci *contentInfo) explicitContent() (asn1.RawValue, error) {
	var inner asn1.RawValue
	if len(ci.Content.FullBytes) == 0 {
		return inner, errors.New("no content")
	}
	return inner, unmarshalAll(ci.Content.Bytes, &inner)
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	ContentInfo      contentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type signerInfo struct {
	Version                   int
	IssuerAndSerialNumber     issuerAndSerial
	DigestAlgorithm           pkix.AlgorithmIdentifier
	AuthenticatedAttributes   asn1.RawValue `asn1:"optional,tag:0"`
	DigestEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedDigest           []byte
	UnauthenticatedAttributes asn1.RawValue `asn1:"optional,tag:1"`
}

type issuerAndSerial struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // SET OF the values
}

type spcIndirectDataContent struct {
	Data          spcAttributeTypeAndOptionalValue
	MessageDigest digestInfo
}

type spcAttributeTypeAndOptionalValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"optional"`
}

type digestInfo struct {
	DigestAlgorithm pkix.AlgorithmIdentifier
	Digest          []byte
}

var (
	oidSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSpcIndirectData   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidAttrContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA1              = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidRSAEncryption     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA1WithRSA       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECPublicKey       = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSAWithSHA1     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithSHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	rsaSignatureOIDs     = []asn1.ObjectIdentifier{oidRSAEncryption, oidSHA1WithRSA, oidSHA256WithRSA, oidSHA384WithRSA, oidSHA512WithRSA}
	ecdsaSignatureOIDs   = []asn1.ObjectIdentifier{oidECPublicKey, oidECDSAWithSHA1, oidECDSAWithSHA256, oidECDSAWithSHA384, oidECDSAWithSHA512}
)

func isRSASignatureOID(oid asn1.ObjectIdentifier) bool   { return oidIn(oid, rsaSignatureOIDs) }
func isECDSASignatureOID(oid asn1.ObjectIdentifier) bool { return oidIn(oid, ecdsaSignatureOIDs) }

func oidIn(oid asn1.ObjectIdentifier, list []asn1.ObjectIdentifier) bool {
	for _, o := range list {
		if oid.Equal(o) {
			return true
		}
	}
	return false
}

// hashFor maps a digest algorithm OID to a hash this package accepts. MD5 and unknown
// algorithms are refused.
func hashFor(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	var h crypto.Hash
	switch {
	case oid.Equal(oidSHA1):
		h = crypto.SHA1
	case oid.Equal(oidSHA256):
		h = crypto.SHA256
	case oid.Equal(oidSHA384):
		h = crypto.SHA384
	case oid.Equal(oidSHA512):
		h = crypto.SHA512
	default:
		return 0, false
	}
	return h, h.Available()
}

// signature is the parsed, not yet verified, content of the PKCS#7 blob.
type signature struct {
	fileHash   crypto.Hash // from SpcIndirectDataContent.messageDigest
	fileDigest []byte
	certs      []*x509.Certificate
	certErr    error // first certificate that failed to parse, if any

	signerIssuer []byte // DER Name
	signerSerial *big.Int
	signerHash   crypto.Hash           // SignerInfo.digestAlgorithm
	sigAlg       asn1.ObjectIdentifier // SignerInfo.digestEncryptionAlgorithm
	sigValue     []byte
	signedAttrs  []byte // authenticated attributes re-tagged as a DER SET: what was signed
	signingTime  time.Time
}

func malformed(cause error, format string, args ...any) *Error {
	return fail(ErrMalformed, cause, "signature blob: "+format+" (the file is damaged or was modified; download it again)", args...)
}

// unmarshalAll decodes exactly one DER value filling der.
func unmarshalAll(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes of trailing data", len(rest))
	}
	return nil
}

// parseSignature decodes the PKCS#7 SignedData and checks its Authenticode structure,
// including that the messageDigest attribute matches the SpcIndirectDataContent, which is
// pure arithmetic on the blob. Trust decisions come later.
func parseSignature(blob []byte) (*signature, error) {
	var ci contentInfo
	rest, err := asn1.Unmarshal(blob, &ci)
	if err != nil {
		return nil, malformed(err, "not a PKCS#7 ContentInfo")
	}
	// The blob is padded with zeros to a multiple of 8 bytes.
	if len(bytes.Trim(rest, "\x00")) != 0 {
		return nil, malformed(nil, "%d bytes of non-zero data after the PKCS#7 structure", len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, malformed(nil, "content type is %s, not PKCS#7 signedData", ci.ContentType)
	}
	var sd signedData
	sdRaw, err := ci.explicitContent()
	if err != nil {
		return nil, malformed(err, "no SignedData")
	}
	if err := unmarshalAll(sdRaw.FullBytes, &sd); err != nil {
		return nil, malformed(err, "bad SignedData")
	}
	if sd.Version != 1 {
		return nil, malformed(nil, "SignedData version is %d, Authenticode requires 1", sd.Version)
	}
	if !sd.ContentInfo.ContentType.Equal(oidSpcIndirectData) {
		return nil, malformed(nil, "signed content type is %s, not Authenticode's SpcIndirectDataContent", sd.ContentInfo.ContentType)
	}
	content, err := sd.ContentInfo.explicitContent()
	if err != nil {
		return nil, malformed(err, "no SpcIndirectDataContent")
	}
	if content.Class != asn1.ClassUniversal || content.Tag != asn1.TagSequence || !content.IsCompound {
		return nil, malformed(nil, "SpcIndirectDataContent is missing or not a SEQUENCE")
	}
	var idc spcIndirectDataContent
	if err := unmarshalAll(content.FullBytes, &idc); err != nil {
		return nil, malformed(err, "bad SpcIndirectDataContent")
	}
	s := &signature{fileDigest: idc.MessageDigest.Digest}
	var ok bool
	if s.fileHash, ok = hashFor(idc.MessageDigest.DigestAlgorithm.Algorithm); !ok {
		return nil, fail(ErrUnsupported, nil, "the cabinet digest algorithm %s is not accepted (SHA-1, SHA-256, SHA-384, SHA-512 are)", idc.MessageDigest.DigestAlgorithm.Algorithm)
	}
	if len(s.fileDigest) != s.fileHash.Size() {
		return nil, malformed(nil, "the signed %s digest is %d bytes, want %d", s.fileHash, len(s.fileDigest), s.fileHash.Size())
	}

	if len(sd.SignerInfos) != 1 {
		return nil, malformed(nil, "%d signers, Authenticode requires exactly one", len(sd.SignerInfos))
	}
	si := sd.SignerInfos[0]
	if si.Version != 1 {
		return nil, malformed(nil, "SignerInfo version is %d, Authenticode requires 1", si.Version)
	}
	if s.signerHash, ok = hashFor(si.DigestAlgorithm.Algorithm); !ok {
		return nil, fail(ErrUnsupported, nil, "the signer digest algorithm %s is not accepted (SHA-1, SHA-256, SHA-384, SHA-512 are)", si.DigestAlgorithm.Algorithm)
	}
	if !digestAlgorithmListed(sd.DigestAlgorithms, si.DigestAlgorithm.Algorithm) {
		return nil, malformed(nil, "the signer digest algorithm %s is not in the SignedData digest algorithms", si.DigestAlgorithm.Algorithm)
	}
	if !plainParams(append([]pkix.AlgorithmIdentifier{idc.MessageDigest.DigestAlgorithm, si.DigestAlgorithm, si.DigestEncryptionAlgorithm}, sd.DigestAlgorithms...)...) {
		return nil, malformed(nil, "an algorithm identifier has unexpected parameters")
	}
	s.signerIssuer = si.IssuerAndSerialNumber.Issuer.FullBytes
	s.signerSerial = si.IssuerAndSerialNumber.SerialNumber
	s.sigAlg = si.DigestEncryptionAlgorithm.Algorithm
	s.sigValue = si.EncryptedDigest
	if s.signerSerial == nil || len(s.signerIssuer) == 0 {
		return nil, malformed(nil, "the signer is not identified by issuer and serial number")
	}

	if err := s.parseAuthenticatedAttributes(si.AuthenticatedAttributes, content.Bytes); err != nil {
		return nil, err
	}
	s.parseCertificates(sd.Certificates)
	return s, nil
}

// plainParams reports whether an algorithm identifier has no parameters or NULL ones,
// the only forms the digest and signature algorithms used here take. Anything else is
// unsigned data that could be changed without breaking the signature.
func plainParams(algs ...pkix.AlgorithmIdentifier) bool {
	for _, a := range algs {
		if p := a.Parameters.FullBytes; len(p) != 0 && !bytes.Equal(p, asn1.NullBytes) {
			return false
		}
	}
	return true
}

func digestAlgorithmListed(list []pkix.AlgorithmIdentifier, oid asn1.ObjectIdentifier) bool {
	for _, a := range list {
		if a.Algorithm.Equal(oid) {
			return true
		}
	}
	return false
}

// parseAuthenticatedAttributes checks contentType and messageDigest and keeps the DER
// that the signer signed. Authenticode's messageDigest is the hash of the
// SpcIndirectDataContent's content octets, without its SEQUENCE tag and length
// (PKCS#7 v1.5 §9.3: "the contents octets of the DER encoding of the content field").
func (s *signature) parseAuthenticatedAttributes(raw asn1.RawValue, idcContent []byte) error {
	if len(raw.FullBytes) == 0 {
		return malformed(nil, "the signer has no authenticated attributes, which Authenticode requires")
	}
	if raw.FullBytes[0] != 0xa0 {
		return malformed(nil, "authenticated attributes are not encoded as [0] IMPLICIT SET")
	}
	// What was signed is the attributes with the universal SET tag, not [0].
	s.signedAttrs = append([]byte{0x31}, raw.FullBytes[1:]...)

	var contentType, messageDigest, signingTime []byte
	seen := map[string]bool{}
	for rest := raw.Bytes; len(rest) > 0; {
		var a attribute
		var err error
		if rest, err = asn1.Unmarshal(rest, &a); err != nil {
			return malformed(err, "bad authenticated attribute")
		}
		key := a.Type.String()
		if seen[key] {
			return malformed(nil, "authenticated attribute %s appears twice", key)
		}
		seen[key] = true
		if a.Values.Class != asn1.ClassUniversal || a.Values.Tag != asn1.TagSet || !a.Values.IsCompound {
			return malformed(nil, "authenticated attribute %s has no SET of values", key)
		}
		switch {
		case a.Type.Equal(oidAttrContentType):
			contentType = a.Values.Bytes
		case a.Type.Equal(oidAttrMessageDigest):
			messageDigest = a.Values.Bytes
		case a.Type.Equal(oidAttrSigningTime):
			signingTime = a.Values.Bytes
		}
	}

	var ct asn1.ObjectIdentifier
	if contentType == nil {
		return malformed(nil, "no contentType authenticated attribute")
	}
	if err := unmarshalAll(contentType, &ct); err != nil {
		return malformed(err, "bad contentType attribute")
	}
	if !ct.Equal(oidSpcIndirectData) {
		return malformed(nil, "contentType attribute is %s, not SpcIndirectDataContent", ct)
	}

	var md []byte
	if messageDigest == nil {
		return malformed(nil, "no messageDigest authenticated attribute")
	}
	if err := unmarshalAll(messageDigest, &md); err != nil {
		return malformed(err, "bad messageDigest attribute")
	}
	h := s.signerHash.New()
	h.Write(idcContent)
	if sum := h.Sum(nil); !bytes.Equal(sum, md) {
		return fail(ErrBadSignature, nil, "the signed messageDigest %s does not match the SpcIndirectDataContent (%s %s); the signature blob was altered (download the file again)",
			hex.EncodeToString(md), s.signerHash, hex.EncodeToString(sum))
	}

	if signingTime != nil {
		var t time.Time
		if err := unmarshalAll(signingTime, &t); err != nil {
			return malformed(err, "bad signingTime attribute")
		}
		s.signingTime = t
	}
	return nil
}

// parseCertificates decodes the embedded certificates one by one, so that one the Go
// parser rejects does not hide the others; the first failure is kept for the message.
func (s *signature) parseCertificates(raw asn1.RawValue) {
	for rest := raw.Bytes; len(rest) > 0; {
		var c asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &c); err != nil {
			if s.certErr == nil {
				s.certErr = err
			}
			return
		}
		cert, err := x509.ParseCertificate(c.FullBytes)
		if err != nil {
			if s.certErr == nil {
				s.certErr = err
			}
			continue
		}
		s.certs = append(s.certs, cert)
	}
}

// findSigner returns the embedded certificate named by the SignerInfo.
func (s *signature) findSigner() (*x509.Certificate, error) {
	for _, c := range s.certs {
		if bytes.Equal(c.RawIssuer, s.signerIssuer) && c.SerialNumber.Cmp(s.signerSerial) == 0 {
			return c, nil
		}
	}
	var issuer pkix.RDNSequence
	name := "an unreadable issuer"
	if err := unmarshalAll(s.signerIssuer, &issuer); err == nil {
		name = fmt.Sprintf("%q", issuer.String())
	}
	return nil, malformed(s.certErr, "the signer certificate (serial %s from %s) is not among the %d embedded certificates", s.signerSerial, name, len(s.certs))
}

package authenticode

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"
)

// oidSpcCabData is SPC_CAB_DATA_OBJID, the data type of a cabinet's SpcIndirectDataContent.
var oidSpcCabData = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 25}

// Signer signs cabinets for stand-ins of Microsoft's servers (the demo, end-to-end
// tests): Microsoft signs the real catalogs. Cert is the code-signing certificate whose
// private key is Key (RSA or ECDSA); Chain, the intermediate certificates to embed.
type Signer struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate
	Now   func() time.Time // signingTime attribute; nil: time.Now
}

// Sign returns cab with an Authenticode signature (SHA-256) appended, in the layout
// Microsoft's signed cabinets have. The cabinet must carry the 20-byte header reserve
// a signature needs, still empty: write it with cab.WriterOptions{HeaderReserve: 20}.
func (s Signer) Sign(cab []byte) ([]byte, error) {
	if s.Cert == nil || s.Key == nil {
		return nil, errors.New("authenticode: signing a cabinet needs a certificate and its private key")
	}
	if len(cab) < signedHeaderLen || string(cab[:4]) != "MSCF" {
		return nil, errors.New("authenticode: not a cabinet (no MSCF header)")
	}
	h := cab[:signedHeaderLen]
	if binary.LittleEndian.Uint16(h[offFlags:])&flagReservePresent == 0 ||
		binary.LittleEndian.Uint16(h[offReserveSizes:]) != authenticodeReserve || h[38] != 0 || h[39] != 0 {
		return nil, errors.New("authenticode: the cabinet has no 20-byte header reserve to hold a signature (write it with a header reserve of 20 bytes)")
	}
	if !bytes.Equal(h[offReserveMagic:signedHeaderLen], make([]byte, signedHeaderLen-offReserveMagic)) {
		return nil, errors.New("authenticode: the cabinet's header reserve is not empty (already signed?)")
	}
	if int64(binary.LittleEndian.Uint32(h[offCbCabinet:])) != int64(len(cab)) {
		return nil, errors.New("authenticode: the cabinet's size field differs from its length")
	}
	out := append([]byte(nil), cab...)
	binary.LittleEndian.PutUint32(out[offReserveMagic:], authenticodeMagic)
	binary.LittleEndian.PutUint32(out[offSigOffset:], uint32(len(cab)))

	loc := &sigLocation{offset: int64(len(cab))}
	copy(loc.header[:], out[:signedHeaderLen])
	digest, err := digestCabinet(bytes.NewReader(out), loc, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	blob, err := s.signedData(digest)
	if err != nil {
		return nil, err
	}
	for len(blob)%8 != 0 {
		blob = append(blob, 0)
	}
	binary.LittleEndian.PutUint32(out[offSigLength:], uint32(len(blob)))
	return append(out, blob...), nil
}

// signedData builds the PKCS#7 SignedData over an SpcIndirectDataContent holding the
// cabinet's SHA-256 digest.
func (s Signer) signedData(digest []byte) ([]byte, error) {
	sha256Alg := pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	idc, err := asn1.Marshal(spcIndirectDataContent{
		Data:          spcAttributeTypeAndOptionalValue{Type: oidSpcCabData},
		MessageDigest: digestInfo{DigestAlgorithm: sha256Alg, Digest: digest},
	})
	if err != nil {
		return nil, err
	}
	var idcSeq asn1.RawValue
	if err := unmarshalAll(idc, &idcSeq); err != nil {
		return nil, err
	}
	contentDigest := crypto.SHA256.New()
	contentDigest.Write(idcSeq.Bytes)

	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	attrs, err := sortedSet(
		attr(oidAttrContentType, oidSpcIndirectData),
		attr(oidAttrMessageDigest, contentDigest.Sum(nil)),
		attr(oidAttrSigningTime, now().UTC().Truncate(time.Second)),
	)
	if err != nil {
		return nil, err
	}
	signed := crypto.SHA256.New()
	signed.Write(attrs)
	var sigAlg pkix.AlgorithmIdentifier
	switch s.Key.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
	case *ecdsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}
	default:
		return nil, fmt.Errorf("authenticode: %T keys are not supported (RSA or ECDSA)", s.Key.Public())
	}
	sig, err := s.Key.Sign(rand.Reader, signed.Sum(nil), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("authenticode: signing: %w", err)
	}
	attrs[0] = 0xa0 // [0] IMPLICIT SET in the SignerInfo

	var certs []byte
	for _, c := range append([]*x509.Certificate{s.Cert}, s.Chain...) {
		certs = append(certs, c.Raw...)
	}
	type signerInfoOut struct {
		Version                   int
		IssuerAndSerialNumber     issuerAndSerial
		DigestAlgorithm           pkix.AlgorithmIdentifier
		AuthenticatedAttributes   asn1.RawValue
		DigestEncryptionAlgorithm pkix.AlgorithmIdentifier
		EncryptedDigest           []byte
	}
	type signedDataOut struct {
		Version          int
		DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
		ContentInfo      asn1.RawValue
		Certificates     asn1.RawValue
		SignerInfos      []signerInfoOut `asn1:"set"`
	}
	inner, err := asn1.Marshal(struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}{oidSpcIndirectData, explicit0(idc)})
	if err != nil {
		return nil, err
	}
	sd, err := asn1.Marshal(signedDataOut{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{sha256Alg},
		ContentInfo:      asn1.RawValue{FullBytes: inner},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos: []signerInfoOut{{
			Version:                   1,
			IssuerAndSerialNumber:     issuerAndSerial{Issuer: asn1.RawValue{FullBytes: s.Cert.RawIssuer}, SerialNumber: new(big.Int).Set(s.Cert.SerialNumber)},
			DigestAlgorithm:           sha256Alg,
			AuthenticatedAttributes:   asn1.RawValue{FullBytes: attrs},
			DigestEncryptionAlgorithm: sigAlg,
			EncryptedDigest:           sig,
		}},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}{oidSignedData, explicit0(sd)})
}

// explicit0 wraps DER in a [0] EXPLICIT tag.
func explicit0(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

type attrValue struct {
	typ asn1.ObjectIdentifier
	val any
}

func attr(typ asn1.ObjectIdentifier, val any) attrValue { return attrValue{typ, val} }

// sortedSet encodes the attributes as a DER SET OF: elements sorted by their encoding.
func sortedSet(as ...attrValue) ([]byte, error) {
	var elems [][]byte
	for _, a := range as {
		v, err := asn1.Marshal(a.val)
		if err != nil {
			return nil, err
		}
		e, err := asn1.Marshal(struct {
			Type   asn1.ObjectIdentifier
			Values asn1.RawValue
		}{a.typ, asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: v}})
		if err != nil {
			return nil, err
		}
		elems = append(elems, e)
	}
	sort.Slice(elems, func(i, j int) bool { return bytes.Compare(elems[i], elems[j]) < 0 })
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(elems, nil)})
}

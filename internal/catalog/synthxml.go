package catalog

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// The XML the generator writes. Shapes follow REFERENCE §5; texts are derived from the
// model's fields so that nothing but the model is held in memory.

const offlineSyncNS = "http://schemas.microsoft.com/msus/2004/02/OfflineSync"

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func esc(s string) string { return xmlEscaper.Replace(s) }

func xmlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

var classWords = map[string][2]string{
	"Security Updates":   {"Security Update", "Mise à jour de sécurité"},
	"Updates":            {"Update", "Mise à jour"},
	"Critical Updates":   {"Critical Update", "Mise à jour critique"},
	"Definition Updates": {"Definition Update", "Mise à jour de définitions"},
	"Update Rollups":     {"Update Rollup", "Correctif cumulatif"},
	"Feature Packs":      {"Feature Pack", "Feature Pack"},
	"Service Packs":      {"Service Pack", "Service Pack"},
	"Tools":              {"Tool", "Outil"},
	"Drivers":            {"Driver", "Pilote"},
}

func (m *synthModel) title(b *synthBundle, fr bool) string {
	w := classWords[m.cats[b.class].name]
	product := m.cats[b.product].name
	y, mo := b.created.Year(), int(b.created.Month())
	var t string
	if fr {
		t = fmt.Sprintf("%s %04d-%02d pour %s (KB%d)", w[1], y, mo, product, b.kb)
	} else {
		t = fmt.Sprintf("%04d-%02d %s for %s (KB%d)", y, mo, w[0], product, b.kb)
	}
	if b.unicode {
		t += " — “Aperçu” & <Beta> 日本語"
	}
	return t
}

func (m *synthModel) description(b *synthBundle, fr bool) string {
	product := m.cats[b.product].name
	if fr {
		return fmt.Sprintf("Installez cette mise à jour pour résoudre les problèmes de %s. Pour obtenir la liste complète des problèmes résolus, consultez l'article %d de la Base de connaissances Microsoft. Après l'installation, vous devrez peut-être redémarrer l'ordinateur.", product, b.kb)
	}
	return fmt.Sprintf("Install this update to resolve issues in %s. For a complete listing of the issues that are included in this update, see the associated Microsoft Knowledge Base article %d for more information. After you install this item, you may have to restart your computer.", product, b.kb)
}

func (m *synthModel) familyOf(product int) int { return m.cats[product].parent }

// writePackageXML streams package.xml to w.
func (m *synthModel) writePackageXML(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	company := 0
	fmt.Fprintf(bw, "\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<OfflineSyncPackage xmlns=\"%s\" MinimumClientVersion=\"5.8.0.2678\" ProtocolVersion=\"1.0\" PackageId=\"%s\" SourceId=\"cc56d1e2-ea5c-4b9b-9d0e-4d5e9e9e6f41\" CreationDate=\"%s\" PackageVersion=\"1.1\">\r\n<Updates>\r\n",
		offlineSyncNS, m.pkgID, xmlTime(m.opts.Created))
	for _, r := range m.rows {
		switch r.kind {
		case 'c':
			c := &m.cats[r.i]
			fmt.Fprintf(bw, `<Update CreationDate="%s" DefaultLanguage="en" UpdateId="%s" RevisionNumber="%d" RevisionId="%d" DeploymentAction="Evaluate" IsSoftware="false"`,
				xmlTime(c.created), c.id, c.revNum, c.rev)
			if c.parent >= 0 {
				fmt.Fprintf(bw, `><Prerequisites><UpdateId Id="%s" /></Prerequisites></Update>`+"\r\n", m.cats[c.parent].id)
			} else {
				bw.WriteString(" />\r\n")
			}
		case 'd':
			d := &m.detects[r.i]
			fmt.Fprintf(bw, `<Update CreationDate="%s" DefaultLanguage="en" UpdateId="%s" RevisionNumber="%d" RevisionId="%d" DeploymentAction="Evaluate" IsSoftware="false" />`+"\r\n",
				xmlTime(d.created), d.id, d.revNum, d.rev)
		case 'b':
			b := &m.bundles[r.i]
			fmt.Fprintf(bw, `<Update CreationDate="%s" DefaultLanguage="en" UpdateId="%s" RevisionNumber="%d" RevisionId="%d" IsLeaf="true" IsBundle="true">`,
				xmlTime(b.created), b.id, b.revNum, b.rev)
			fmt.Fprintf(bw, `<Categories><Category Type="Company" Id="%s" /><Category Type="Product" Id="%s" /><Category Type="ProductFamily" Id="%s" /><Category Type="UpdateClassification" Id="%s" /></Categories>`,
				m.cats[company].id, m.cats[b.product].id, m.cats[m.familyOf(b.product)].id, m.cats[b.class].id)
			bw.WriteString(`<Prerequisites>`)
			for _, p := range b.prereqs {
				fmt.Fprintf(bw, `<UpdateId Id="%s" />`, p)
			}
			if len(b.orPrereqs) > 0 {
				bw.WriteString(`<Or>`)
				for _, p := range b.orPrereqs {
					fmt.Fprintf(bw, `<UpdateId Id="%s" />`, p)
				}
				bw.WriteString(`</Or>`)
			}
			bw.WriteString(`</Prerequisites>`)
			if len(b.supBy) > 0 {
				bw.WriteString(`<SupersededBy>`)
				for _, s := range b.supBy {
					fmt.Fprintf(bw, `<Revision Id="%d" />`, m.bundles[s].rev)
				}
				bw.WriteString(`</SupersededBy>`)
			}
			bw.WriteString("</Update>\r\n")
		case 'l':
			l := &m.leaves[r.i]
			b := &m.bundles[l.bundle]
			fmt.Fprintf(bw, `<Update CreationDate="%s" DefaultLanguage="en" UpdateId="%s" RevisionNumber="%d" RevisionId="%d" IsLeaf="true" DeploymentAction="Bundle">`,
				xmlTime(l.created), l.id, l.revNum, l.rev)
			bw.WriteString(`<Prerequisites>`)
			for _, p := range l.prereqs {
				fmt.Fprintf(bw, `<UpdateId Id="%s" />`, p)
			}
			bw.WriteString(`</Prerequisites><PayloadFiles>`)
			for _, f := range l.files {
				fmt.Fprintf(bw, `<File Id="%s" />`, base64.StdEncoding.EncodeToString(m.files[f].sha1[:]))
			}
			fmt.Fprintf(bw, `</PayloadFiles><BundledBy><Revision Id="%d" /></BundledBy></Update>`+"\r\n", b.rev)
		}
	}
	bw.WriteString("</Updates>\r\n<FileLocations>\r\n")
	for i := range m.files {
		f := &m.files[i]
		fmt.Fprintf(bw, `<FileLocation Id="%s" Url="%s" />`+"\r\n", base64.StdEncoding.EncodeToString(f.sha1[:]), esc(f.url))
	}
	bw.WriteString("</FileLocations>\r\n</OfflineSyncPackage>\r\n")
	return bw.Flush()
}

// writeIndex writes index.xml.
func (m *synthModel) writeIndex(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\r\n" + `<INDEX VERSION="1"><CABLIST XOR="0"><CAB NAME="package.cab"/>`)
	for k, start := range m.routes {
		fmt.Fprintf(&b, `<CAB NAME="%s" RANGESTART="%d"`, detailCabName(k), start)
		if k == 0 {
			b.WriteString(` FILESDIR="1"`)
		}
		b.WriteString(`/>`)
	}
	b.WriteString("</CABLIST></INDEX>\r\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func detailCabName(k int) string { return "package" + strconv.Itoa(k+2) + ".cab" }

// Fragments.

func (m *synthModel) fragmentL(r synthRow, fr bool) string {
	var title, desc, lang string
	wrap := false
	lang = "en"
	if fr {
		lang = "fr"
	}
	switch r.kind {
	case 'c':
		c := &m.cats[r.i]
		title = c.name
		if fr {
			title = c.nameFR
		}
		desc = title + " (" + string(c.typ) + ")"
	case 'd':
		title, desc = m.detects[r.i].name, "Applicability detectoid."
	case 'b':
		b := &m.bundles[r.i]
		title, desc, wrap = m.title(b, fr), m.description(b, fr), b.wrapL
	case 'l':
		l := &m.leaves[r.i]
		b := &m.bundles[l.bundle]
		title, desc = m.title(b, fr)+" ("+l.arch+")", m.description(b, fr)
	}
	s := "<Language>" + lang + "</Language><Title>" + esc(title) + "</Title><Description>" + esc(desc) + "</Description>"
	if wrap {
		s = "<LocalizedProperties>" + s + "</LocalizedProperties>"
	}
	return s
}

func (m *synthModel) fragmentX(r synthRow) string {
	var b strings.Builder
	switch r.kind {
	case 'c':
		c := &m.cats[r.i]
		fmt.Fprintf(&b, `<ExtendedProperties DefaultPropertiesLanguage="en" UpdateType="Category" CreationDate="%s" IsPublic="true" />`, xmlTime(c.created))
	case 'd':
		fmt.Fprintf(&b, `<ExtendedProperties DefaultPropertiesLanguage="en" UpdateType="Detector" CreationDate="%s" />`, xmlTime(m.detects[r.i].created))
	case 'b':
		u := &m.bundles[r.i]
		var size int64
		for _, li := range u.leaves {
			for _, f := range m.leaves[li].files {
				size += m.files[f].size
			}
		}
		fmt.Fprintf(&b, `<ExtendedProperties DefaultPropertiesLanguage="en" Handler="http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsPatch" MaxDownloadSize="%d" MinDownloadSize="0" PublicationState="Published" CreationDate="%s" UpdateType="Software" PerUser="false" IsPublic="true"`, size, xmlTime(u.created))
		if u.severity != "" {
			fmt.Fprintf(&b, ` MsrcSeverity="%s"`, u.severity)
		}
		b.WriteString(`><InstallationBehavior RebootBehavior="CanRequestReboot" />`)
		if u.siblingsX {
			b.WriteString(`</ExtendedProperties>`)
		}
		fmt.Fprintf(&b, `<SupportUrl>https://support.microsoft.com/help/%d</SupportUrl>`, u.kb)
		if u.bulletin != "" {
			fmt.Fprintf(&b, `<SecurityBulletinID>%s</SecurityBulletinID>`, u.bulletin)
		}
		fmt.Fprintf(&b, `<KBArticleID>%d</KBArticleID>`, u.kb)
		if !u.siblingsX {
			b.WriteString(`</ExtendedProperties>`)
		}
	case 'l':
		l := &m.leaves[r.i]
		fmt.Fprintf(&b, `<ExtendedProperties DefaultPropertiesLanguage="en" Handler="http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/Cbs" MinDownloadSize="0" CreationDate="%s" UpdateType="Software" PerUser="false"><InstallationBehavior RebootBehavior="CanRequestReboot" /></ExtendedProperties><Files>`, xmlTime(l.created))
		for _, fi := range l.files {
			f := &m.files[fi]
			fmt.Fprintf(&b, `<File Digest="%s" DigestAlgorithm="SHA1" FileName="%s" Size="%d" Modified="%s"><AdditionalDigest Algorithm="SHA256">%s</AdditionalDigest></File>`,
				base64.StdEncoding.EncodeToString(f.sha1[:]), esc(f.name), f.size, xmlTime(f.when), base64.StdEncoding.EncodeToString(f.sha256[:]))
		}
		fmt.Fprintf(&b, `</Files><HandlerSpecificData type="cbs:Cbs"><cbs:CbsPackage xmlns:cbs="http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/Cbs" PackageID="Package_for_KB%d~31bf3856ad364e35~%s~~10.0.1.%d" /></HandlerSpecificData>`,
			m.bundles[l.bundle].kb, l.arch, l.revNum)
	}
	return b.String()
}

// fragmentC writes a core fragment of about CoreBytes: identity, relationships and
// applicability rules. Its contents are drawn from the seed and the revision, so they
// compress like the real ones (GUIDs, versions and registry paths).
func (m *synthModel) fragmentC(r synthRow) string {
	rev := r.rev(m)
	rng := rand.New(rand.NewPCG(uint64(m.opts.Seed)^0xc0de, uint64(rev)))
	target := m.opts.CoreBytes/2 + rng.IntN(m.opts.CoreBytes+1)
	var b strings.Builder
	b.Grow(target + 512)
	var id string
	var revNum int
	kind := "Software"
	switch r.kind {
	case 'c':
		id, revNum, kind = m.cats[r.i].id, m.cats[r.i].revNum, "Category"
	case 'd':
		id, revNum, kind = m.detects[r.i].id, m.detects[r.i].revNum, "Detector"
	case 'b':
		id, revNum = m.bundles[r.i].id, m.bundles[r.i].revNum
	case 'l':
		id, revNum = m.leaves[r.i].id, m.leaves[r.i].revNum
	}
	fmt.Fprintf(&b, `<UpdateIdentity UpdateID="%s" RevisionNumber="%d" /><Properties UpdateType="%s" ExplicitlyDeployable="true" AutoSelectOnWebSites="true" /><Relationships><Prerequisites><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="%s" /></AtLeastOne></Prerequisites>`,
		id, revNum, kind, newGUID(rng))
	if r.kind == 'b' {
		b.WriteString(`<BundledUpdates>`)
		for _, li := range m.bundles[r.i].leaves {
			fmt.Fprintf(&b, `<UpdateIdentity UpdateID="%s" RevisionNumber="%d" />`, m.leaves[li].id, m.leaves[li].revNum)
		}
		b.WriteString(`</BundledUpdates>`)
	}
	b.WriteString(`</Relationships><ApplicabilityRules><IsInstalled><lar:And xmlns:lar="http://schemas.microsoft.com/msus/2002/12/LogicalApplicabilityRules">`)
	for b.Len() < target {
		switch rng.IntN(3) {
		case 0:
			fmt.Fprintf(&b, `<bar:RegSz xmlns:bar="http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules" Key="HKEY_LOCAL_MACHINE" Subkey="SOFTWARE\Microsoft\Windows NT\CurrentVersion\Component Based Servicing\Packages\Package_%d_for_KB%d~31bf3856ad364e35~amd64~~10.0.%d.%d" Value="CurrentState" Comparison="EqualTo" Data="%d" />`,
				rng.IntN(50), 3000000+rng.IntN(3000000), rng.IntN(30000), rng.IntN(5000), rng.IntN(200))
		case 1:
			fmt.Fprintf(&b, `<bar:FileVersion xmlns:bar="http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules" Csidl="37" Path="%s.dll" Comparison="LessThan" Version="10.0.%d.%d" />`,
				newGUID(rng)[:8], rng.IntN(30000), rng.IntN(5000))
		default:
			fmt.Fprintf(&b, `<bar:WmiQuery xmlns:bar="http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules" Namespace="root\cimv2" WqlQuery="SELECT * FROM Win32_QuickFixEngineering WHERE HotFixID = 'KB%d' AND InstalledOn &gt; '%d'" /><UpdateIdentity UpdateID="%s" />`,
				3000000+rng.IntN(3000000), rng.IntN(1<<30), newGUID(rng))
		}
	}
	b.WriteString(`</lar:And></IsInstalled><IsInstallable><True /></IsInstallable></ApplicabilityRules>`)
	if p := m.opts.PatchBytes; p > 0 && rng.IntN(4) == 0 {
		// Patch metadata: base64 of random bytes, exponentially distributed sizes.
		n := int(rng.ExpFloat64() * float64(4*p) * 3 / 4)
		n = min(n, 16*p)
		raw := make([]byte, n)
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[0:], uint64(rev))
		binary.LittleEndian.PutUint64(seed[8:], uint64(m.opts.Seed))
		rand.NewChaCha8(seed).Read(raw)
		b.WriteString(`<HandlerSpecificData type="msp:MspPatch"><msp:PatchMetadata xmlns:msp="http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsInstaller">`)
		b.WriteString(base64.StdEncoding.EncodeToString(raw))
		b.WriteString(`</msp:PatchMetadata></HandlerSpecificData>`)
	}
	return b.String()
}

// eula is the text of an e/ member.
func (m *synthModel) eula(b *synthBundle) string {
	return strings.Repeat(fmt.Sprintf("MICROSOFT SOFTWARE LICENSE TERMS for KB%d. These license terms are an agreement between Microsoft Corporation and you. ", b.kb), 40)
}

// manifest is what Read must return for this model.
func (m *synthModel) manifest() *SynthManifest {
	man := &SynthManifest{
		Rows:         len(m.rows),
		Detectoids:   len(m.detects),
		Bundles:      len(m.bundles),
		Leaves:       len(m.leaves),
		CategoryRows: len(m.cats),
		DetailCabs:   len(m.routes),
		French:       map[string]SynthText{},
	}
	for i := range m.files {
		f := &m.files[i]
		man.Files = append(man.Files, SynthFile{Name: f.name, Size: f.size, SHA1: fmt.Sprintf("%x", f.sha1), SHA256: fmt.Sprintf("%x", f.sha256), URL: f.url})
	}
	// Categories named in some bundle's <Categories>, and their ancestors.
	used := make([]bool, len(m.cats))
	mark := func(c int) {
		for ; c >= 0 && !used[c]; c = m.cats[c].parent {
			used[c] = true
		}
	}
	supersedes := make([][]int, len(m.bundles))
	for bi := range m.bundles {
		b := &m.bundles[bi]
		mark(0)
		mark(b.product)
		mark(m.familyOf(b.product))
		mark(b.class)
		for _, s := range b.supBy {
			supersedes[s] = append(supersedes[s], bi)
		}
	}
	for ci := range m.cats {
		if !used[ci] {
			continue
		}
		c := wu.Category{ID: m.cats[ci].id, Type: m.cats[ci].typ, Name: m.cats[ci].name}
		if p := m.cats[ci].parent; p >= 0 {
			c.ParentID = m.cats[p].id
		}
		man.Categories = append(man.Categories, c)
	}
	for bi := range m.bundles {
		b := &m.bundles[bi]
		u := wu.Update{
			UpdateID:         b.id,
			RevisionNumber:   b.revNum,
			RevisionID:       b.rev,
			Created:          b.created,
			Title:            m.title(b, false),
			Description:      m.description(b, false),
			KBs:              []string{strconv.Itoa(b.kb)},
			Severity:         b.severity,
			Classification:   m.cats[b.class].name,
			ClassificationID: m.cats[b.class].id,
			Products:         []string{m.cats[b.product].name},
			ProductIDs:       []string{m.cats[b.product].id},
			Company:          m.cats[0].name,
			ProductFamily:    m.cats[m.familyOf(b.product)].name,
			SupersededBy:     []string{},
			Supersedes:       []string{},
			Prerequisites:    []string{},
			SupportURL:       fmt.Sprintf("https://support.microsoft.com/help/%d", b.kb),
			SecurityBulletin: []string{},
			Files:            []wu.File{},
		}
		for _, s := range b.supBy {
			u.SupersededBy = appendUnique(u.SupersededBy, m.bundles[s].id)
		}
		for _, s := range supersedes[bi] {
			u.Supersedes = appendUnique(u.Supersedes, m.bundles[s].id)
		}
		for _, p := range append(append([]string(nil), b.prereqs...), b.orPrereqs...) {
			u.Prerequisites = appendUnique(u.Prerequisites, p)
		}
		if b.bulletin != "" {
			u.SecurityBulletin = append(u.SecurityBulletin, b.bulletin)
		}
		var seen []int
		for _, li := range b.leaves {
			for _, fi := range m.leaves[li].files {
				if containsInt(seen, fi) {
					continue
				}
				seen = append(seen, fi)
				f := &m.files[fi]
				u.Files = append(u.Files, wu.File{Name: f.name, Size: f.size, SHA1: fmt.Sprintf("%x", f.sha1), SHA256: fmt.Sprintf("%x", f.sha256), URL: f.url})
			}
		}
		if b.french {
			man.French[b.id] = SynthText{Title: m.title(b, true), Description: m.description(b, true)}
		}
		man.Updates = append(man.Updates, u)
	}
	return man
}

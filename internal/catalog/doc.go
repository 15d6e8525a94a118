// Package catalog reads Microsoft's offline update catalog, wsusscn2.cab, into update
// records (wu.Update, wu.Category), and writes synthetic catalogs of the same shape
// for tests, benchmarks and a stand-in for Microsoft's servers.
//
// Reading is one streaming pass over the outer cabinet (REFERENCE §5): index.xml
// routes each revision to the detail cabinet with the greatest RANGESTART not above
// it; package.xml (about 110 MB) is tokenized, never loaded as a tree; then every
// detail cabinet is decoded once, in parallel, keeping only the x/<rev> and
// l/<lang>/<rev> fragments of the revisions needed, so that c/, e/ and files/ members
// are skipped (and their folders not even decoded when no needed member shares them).
//
// The two cores of a small server are kept busy this way: package.cab is read with
// a reader of its own from the start of the outer cabinet while the outer walk goes
// on; the walk keeps of each detail cabinet only its tables and the data of the
// folders that hold x/ and l/ members (a few hundred KB of several MB, in memory, so
// that all of them wait there while package.xml is parsed); the detail workers share
// their LZX windows (cab.DecoderPool); what the records need from package.xml alone
// is computed while the workers run; the records are built in parallel and delivered
// in package.xml order.
//
// Defects a real catalog may have (missing fragments, dangling links, unknown
// elements) are counted as warnings; a structural error is fatal and names the
// cabinet member and the byte offset.
//
// Records are the software update bundles: their leaves (BundledBy) contribute the
// payload files, described by the leaves' x/ fragments and located by FileLocations.
// An update that carries payload files itself and is bundled by nothing is a record
// too.
package catalog

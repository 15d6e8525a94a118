package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/wu"
)

// newCatalogCmd groups the catalog commands (dump, stats, synth).
func newCatalogCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Read and generate wsusscn2.cab update catalogs"}
	cmd.AddCommand(newCatalogDumpCmd(), newCatalogStatsCmd(), newCatalogSynthCmd(), newCatalogSyncCmd())
	return cmd
}

// dumpRecord is one line of "catalog dump": exactly these fields, lists never null.
type dumpRecord struct {
	UpdateID       string     `json:"update_id"`
	RevisionNumber int        `json:"revision_number"`
	RevisionID     int64      `json:"revision_id"`
	Title          string     `json:"title"`
	KB             []string   `json:"kb"`
	Severity       string     `json:"severity"`
	Classification string     `json:"classification"`
	Products       []string   `json:"products"`
	Created        string     `json:"created"`
	SupersededBy   []string   `json:"superseded_by"`
	Supersedes     []string   `json:"supersedes"`
	Files          []dumpFile `json:"files"`
}

type dumpFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA1   string `json:"sha1"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newDumpRecord(u *wu.Update) dumpRecord {
	r := dumpRecord{
		UpdateID:       u.UpdateID,
		RevisionNumber: u.RevisionNumber,
		RevisionID:     u.RevisionID,
		Title:          u.Title,
		KB:             nonNil(u.KBs),
		Severity:       string(u.Severity),
		Classification: u.Classification,
		Products:       nonNil(u.Products),
		Created:        u.Created.UTC().Format(time.RFC3339),
		SupersededBy:   nonNil(u.SupersededBy),
		Supersedes:     nonNil(u.Supersedes),
		Files:          make([]dumpFile, 0, len(u.Files)),
	}
	for _, f := range u.Files {
		r.Files = append(r.Files, dumpFile{Name: f.Name, Size: f.Size, SHA1: f.SHA1, SHA256: f.SHA256, URL: f.URL})
	}
	return r
}

// limitMemory asks the garbage collector to keep the heap of a catalog read under
// 192 MiB, unless GOMEMLIMIT says otherwise: a full catalog keeps about 100 MiB
// live, and the default collector pacing would let the heap grow to twice that.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(192 << 20)
	}
}

func newCatalogDumpCmd() *cobra.Command {
	var lang string
	var workers int
	cmd := &cobra.Command{
		Use:   "dump FILE",
		Short: "Print the software updates of a wsusscn2.cab, one JSON object per line",
		Long: `Print every software update (bundle) of a wsusscn2.cab as one JSON object per line:
update_id, revision_number, revision_id, title, kb, severity, classification, products,
created (RFC 3339), superseded_by, supersedes (update ids) and files (name, size, sha1,
sha256, url). Titles are in --lang, else English, else the update's default language.
Warnings (missing fragments, dangling links) are counted on stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bw := bufio.NewWriterSize(cmd.OutOrStdout(), 256<<10)
			enc := json.NewEncoder(bw)
			enc.SetEscapeHTML(false)
			limitMemory()
			opts := catalog.Options{Language: lang, Workers: workers, NoDescriptions: true, Emit: func(u *wu.Update) error {
				return enc.Encode(newDumpRecord(u))
			}}
			c, err := catalog.ReadFile(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("catalog dump: writing the output: %w", err)
			}
			if n := c.Stats.WarningCount(); n > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "catalog dump: %d updates, %d warnings (see \"waptserver catalog stats %s\")\n", c.Stats.Records, n, args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&lang, "lang", "en", "language of titles (en, fr, de, ...)")
	cmd.Flags().IntVar(&workers, "workers", 0, "detail cabinets decoded at once (0: one per CPU)")
	return cmd
}

func newCatalogStatsCmd() *cobra.Command {
	var lang string
	var asJSON bool
	var workers int
	cmd := &cobra.Command{
		Use:   "stats FILE",
		Short: "Read a wsusscn2.cab and print counts and warnings",
		Long: `Read a wsusscn2.cab completely (as the server's catalog import does) and print what
it holds: update rows, bundles, leaves, categories, files, detail cabinets, fragments
read and skipped, bytes decoded, and the warnings by kind with a few examples.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			limitMemory()
			opts := catalog.Options{Language: lang, Workers: workers, NoDescriptions: true, Emit: func(*wu.Update) error { return nil }}
			c, err := catalog.ReadFile(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(c.Stats)
			}
			s := &c.Stats
			fmt.Fprintf(out, "catalog %s: package %s created %s\n", args[0], c.PackageID, c.Created.Format(time.RFC3339))
			rows := []struct {
				name string
				v    int64
			}{
				{"updates (rows of package.xml)", int64(s.Updates)},
				{"software updates (records)", int64(s.Records)},
				{"bundles", int64(s.Bundles)},
				{"leaves", int64(s.Leaves)},
				{"categories", int64(s.Categories)},
				{"files", int64(s.Files)},
				{"file locations", int64(s.FileLocations)},
				{"detail cabs", int64(s.DetailCabs)},
				{"fragments read", s.FragmentsRead},
				{"fragments skipped", s.FragmentsSkipped},
				{"bytes decoded", s.BytesDecoded},
				{"language fallbacks", int64(s.LanguageFallbacks)},
				{"warnings", int64(s.WarningCount())},
			}
			for _, r := range rows {
				fmt.Fprintf(out, "%-32s %d\n", r.name, r.v)
			}
			for _, w := range s.Warnings {
				fmt.Fprintf(out, "  %s: %d\n", w.Kind, w.Count)
				for _, ex := range w.Examples {
					fmt.Fprintf(out, "    e.g. %s\n", ex)
				}
			}
			fmt.Fprintf(out, "%-32s %.2fs\n", "elapsed", time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&lang, "lang", "en", "language of titles (en, fr, de, ...)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the statistics as JSON")
	cmd.Flags().IntVar(&workers, "workers", 0, "detail cabinets decoded at once (0: one per CPU)")
	return cmd
}

func newCatalogSynthCmd() *cobra.Command {
	var (
		o        catalog.SynthOptions
		output   string
		manifest string
		minKiB   int64
		maxKiB   int64
	)
	cmd := &cobra.Command{
		Use:   "synth --updates N --seed S -o FILE",
		Short: "Write a synthetic wsusscn2.cab (for tests, benchmarks and a stand-in for Microsoft)",
		Long: `Write a synthetic wsusscn2.cab with the structure of Microsoft's: an LZX outer cabinet
with a header reserve, index.xml, package.cab with package.xml, and detail cabinets
with c/, e/, l/en/, l/fr/ and x/ fragments. The same seed gives the same bytes.
--updates is the number of <Update> rows (a real catalog has about 136,000). The
payload files' bytes are not written: they derive from their names (catalog
SynthFileContent); --manifest writes the list of files with their digests and URLs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return fmt.Errorf("catalog synth: -o FILE is required (where to write the catalog)")
			}
			o.MinFileSize, o.MaxFileSize = minKiB<<10, maxKiB<<10
			start := time.Now()
			tmp, err := os.CreateTemp(filepath.Dir(output), ".synth-*.cab")
			if err != nil {
				return fmt.Errorf("catalog synth: %w", err)
			}
			defer os.Remove(tmp.Name())
			bw := bufio.NewWriterSize(tmp, 1<<20)
			man, err := catalog.Synthesize(bw, o)
			if err == nil {
				err = bw.Flush()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				return fmt.Errorf("catalog synth: %w", err)
			}
			if err := os.Rename(tmp.Name(), output); err != nil {
				return fmt.Errorf("catalog synth: %w", err)
			}
			if manifest != "" {
				if err := writeManifest(manifest, man); err != nil {
					return err
				}
			}
			fi, err := os.Stat(output)
			if err != nil {
				return fmt.Errorf("catalog synth: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d bytes, %d rows (%d categories, %d bundles, %d leaves), %d files, %d detail cabs, package.xml %d bytes, in %.1fs\n",
				output, fi.Size(), man.Rows, man.CategoryRows, man.Bundles, man.Leaves, len(man.Files), man.DetailCabs, man.PackageXMLBytes, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Updates, "updates", 2000, "number of <Update> rows (136000 for a full-size catalog)")
	f.Int64Var(&o.Seed, "seed", 1, "random seed")
	f.StringVarP(&output, "output", "o", "", "where to write the catalog")
	f.IntVar(&o.DetailCabs, "detail-cabs", 0, "number of detail cabinets (0: one per 1,800 rows)")
	f.Int64Var(&minKiB, "min-file-kib", 1, "smallest payload file, KiB")
	f.Int64Var(&maxKiB, "max-file-kib", 200, "largest payload file, KiB")
	f.IntVar(&o.CoreBytes, "core-bytes", 3000, "average size of a c/ fragment")
	f.BoolVar(&o.SingleFolder, "single-folder", false, "one LZX folder per detail cabinet (default: c/ and e/ in a folder of their own)")
	f.StringVar(&manifest, "manifest", "", "also write the payload files (name, size, sha1, sha256, url) as JSON lines to this file")
	return cmd
}

func writeManifest(path string, man *catalog.SynthManifest) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("catalog synth: %w", err)
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range man.Files {
		if err := enc.Encode(&man.Files[i]); err != nil {
			f.Close()
			return fmt.Errorf("catalog synth: writing %s: %w", path, err)
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("catalog synth: writing %s: %w", path, err)
	}
	return f.Close()
}

package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/cab"
)

// newCabListCmd: waptserver cab list FILE [-v].
func newCabListCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "list FILE",
		Short: "List the members of a cabinet file (size, date, folder, method, name)",
		Long: `List the members of a cabinet file, one line each: size in bytes, modification
date and time (as stored, no time zone), folder number, compression method, name
(with / separators). With -v the header and the folders are described first.
Nothing is decompressed: use "cab test" to check the data.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, closeFile, err := openCabinet(args[0], cab.Limits{})
			if err != nil {
				return err
			}
			defer closeFile()
			out := cmd.OutOrStdout()
			if verbose {
				printCabHeader(out, args[0], c)
			}
			for _, f := range c.Files {
				fmt.Fprintf(out, "%12d  %s  %6d  %-9s %s\n", f.Size, f.Modified.Format("2006-01-02 15:04:05"),
					f.Folder, methodName(&c.Folders[f.Folder]), displayName(f.Name))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "describe the header and the folders too")
	return cmd
}

func printCabHeader(out io.Writer, path string, c *cab.Cabinet) {
	h := &c.Header
	var total int64
	for _, f := range c.Files {
		total += f.Size
	}
	fmt.Fprintf(out, "cabinet %s: format %d.%d, %d bytes declared, set ID %d, number %d in set, flags %#04x\n",
		path, h.VersionMajor, h.VersionMinor, h.Size, h.SetID, h.ID, h.Flags)
	fmt.Fprintf(out, "reserve: %d bytes in the header, %d per folder, %d per data block\n",
		len(h.HeaderReserve), h.FolderReserveSize, h.DataReserveSize)
	fmt.Fprintf(out, "%d folders, %d members, %d bytes uncompressed\n", len(c.Folders), len(c.Files), total)
	for i := range c.Folders {
		fo := &c.Folders[i]
		fmt.Fprintf(out, "folder %d: %s, %d data blocks from byte %d\n", i, methodName(fo), fo.DataBlocks, fo.DataOffset)
	}
	fmt.Fprintf(out, "%12s  %-19s  %6s  %-9s %s\n", "size", "modified", "folder", "method", "name")
}

// methodName is a folder's method, with the window size for LZX ("LZX:21").
func methodName(f *cab.Folder) string {
	if f.Method == cab.MethodLZX {
		return "LZX:" + strconv.Itoa(f.WindowBits)
	}
	return f.Method.String()
}

// displayName shows a member name with / separators and its control characters
// escaped, so that a hostile name cannot drive the terminal.
func displayName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	if strings.IndexFunc(name, unicode.IsControl) < 0 {
		return name
	}
	var sb strings.Builder
	for _, r := range name {
		if unicode.IsControl(r) {
			fmt.Fprintf(&sb, `\x%02x`, r)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// openCabinet opens the cabinet file at path; closeFile releases it.
func openCabinet(path string, limits cab.Limits) (c *cab.Cabinet, closeFile func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file: give the path of a .cab file", path)
	}
	c, err = cab.Open(f, st.Size(), cab.WithName(path), cab.WithLimits(limits))
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return c, func() { f.Close() }, nil
}

// limitFlags are the --max-member-size and --max-total-size flags of the commands that
// decompress.
type limitFlags struct {
	member, total string
}

func addLimitFlags(cmd *cobra.Command) *limitFlags {
	lf := &limitFlags{}
	cmd.Flags().StringVar(&lf.member, "max-member-size", "",
		"largest member to decompress, in bytes or with a K, M, G or T suffix (powers of 1024); default 4G")
	cmd.Flags().StringVar(&lf.total, "max-total-size", "",
		"most bytes to decompress in all, skipped bytes included, same units; default 64G")
	return lf
}

func (lf *limitFlags) limits() (cab.Limits, error) {
	var l cab.Limits
	var err error
	if l.MaxMemberSize, err = parseSize("--max-member-size", lf.member); err != nil {
		return l, err
	}
	if l.MaxTotalSize, err = parseSize("--max-total-size", lf.total); err != nil {
		return l, err
	}
	return l, nil
}

// parseSize reads a byte count such as "1048576", "512M", "4GiB" or "1t"; "" is 0 (the
// default).
func parseSize(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%s %q: not a positive size (write it in bytes or with a K, M, G or T suffix, such as 8G)", flag, s)
	}
	return n * mult, nil
}

// cliError rewrites the library's limit errors in terms of the command's flags.
func cliError(err error) error {
	var le *cab.LimitError
	if !errors.As(err, &le) {
		return err
	}
	where := ""
	if le.Cabinet != "" {
		where = le.Cabinet + ": "
	}
	if le.Limit == "MaxMemberSize" {
		return fmt.Errorf("%smember %q is %d bytes, over the limit of %d bytes: raise it with --max-member-size", where, le.Member, le.Size, le.Max)
	}
	return fmt.Errorf("%sreading member %q would decompress more than the limit of %d bytes in all: raise it with --max-total-size", where, le.Member, le.Max)
}

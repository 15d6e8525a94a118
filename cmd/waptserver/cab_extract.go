package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/cab"
)

// newCabExtractCmd: waptserver cab extract FILE -d DIR [NAME-PATTERN...].
func newCabExtractCmd() *cobra.Command {
	var dir string
	var verbose bool
	var lf *limitFlags
	cmd := &cobra.Command{
		Use:   "extract FILE [NAME-PATTERN...]",
		Short: "Extract the members of a cabinet file into a directory",
		Long: `Extract the members of a cabinet file into the directory given by -d (default: the
current directory), creating subdirectories as needed. With patterns, only the
members whose name (with / separators) matches one of them are extracted; patterns use
path.Match syntax (*, ?, [a-z]) and ignore case. Each file is written to a temporary
file then renamed, and gets the member's modification time. Members whose name would
leave the directory (.., absolute paths, drive letters) are refused and reported.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			limits, err := lf.limits()
			if err != nil {
				return err
			}
			patterns := make([]string, 0, len(args)-1)
			for _, p := range args[1:] {
				p = strings.ToLower(p)
				if _, err := path.Match(p, ""); err != nil {
					return fmt.Errorf("cab extract: pattern %q: %w (patterns use path.Match syntax: *, ?, [a-z], \\ to escape)", p, err)
				}
				patterns = append(patterns, p)
			}
			c, closeFile, err := openCabinet(args[0], limits)
			if err != nil {
				return err
			}
			defer closeFile()
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("cab extract: creating the target directory: %w", err)
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			keep := func(f *cab.File) bool {
				return matchAny(patterns, strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/")))
			}
			t, err := walkMembers(ctx, out, c, "cab extract", args[0], keep, func(_ int, f *cab.File, r io.Reader) (int64, error) {
				n, err := extractMember(ctx, dir, f, r)
				if err == nil && verbose {
					fmt.Fprintf(out, "extracted %s (%d bytes)\n", displayName(f.Name), n)
				}
				return n, err
			})
			if err != nil {
				return err
			}
			if len(patterns) > 0 && t.members == 0 {
				return fmt.Errorf("cab extract: %s: no member matches %s (list the members with `waptserver cab list`)",
					args[0], strings.Join(args[1:], " "))
			}
			if err := t.failures("cab extract", args[0]); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: extracted %d members, %d bytes, into %s\n", args[0], t.members, t.total, dir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "dir", "d", ".", "directory to extract into (created if missing)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print each extracted member")
	lf = addLimitFlags(cmd)
	return cmd
}

func matchAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// extractMember writes member f under dir: to a temporary file next to the target,
// renamed into place once complete, with the member's modification time.
func extractMember(ctx context.Context, dir string, f *cab.File, r io.Reader) (int64, error) {
	rel, err := cab.SafePath(f.Name)
	if err != nil {
		return 0, err
	}
	dst := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, fmt.Errorf("member %q: creating its directory: %w", f.Name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("member %q: %w", f.Name, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(ctxWriter{ctx, tmp}, r)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return n, fmt.Errorf("member %q: writing %s: %w", f.Name, dst, err)
		}
		return n, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return n, fmt.Errorf("member %q: %w", f.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("member %q: writing %s: %w", f.Name, dst, err)
	}
	done = true
	if err := os.Chtimes(tmp.Name(), f.Modified, f.Modified); err != nil {
		os.Remove(tmp.Name())
		return n, fmt.Errorf("member %q: %w", f.Name, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return n, fmt.Errorf("member %q: %w", f.Name, err)
	}
	return n, nil
}

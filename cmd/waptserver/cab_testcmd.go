package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/cab"
)

// newCabTestCmd: waptserver cab test FILE [--sha256].
func newCabTestCmd() *cobra.Command {
	var withSHA bool
	var lf *limitFlags
	cmd := &cobra.Command{
		Use:   "test FILE",
		Short: "Decompress every member of a cabinet file and verify its checksums",
		Long: `Decompress every member of a cabinet file, verifying the data blocks' checksums,
without writing anything. Each member that fails is reported on a FAILED line and the
test goes on with the next folder; the command fails if any member did, if a member has
an empty name, or if the cabinet holds no member (cabextract refuses both too). With --sha256
each good member is printed as "<sha256> <size> <name>" (names with / separators).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			limits, err := lf.limits()
			if err != nil {
				return err
			}
			c, closeFile, err := openCabinet(args[0], limits)
			if err != nil {
				return err
			}
			defer closeFile()
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			var h hash.Hash
			if withSHA {
				h = sha256.New()
			}
			t, err := walkMembers(ctx, out, c, "cab test", args[0], nil, func(i int, f *cab.File, r io.Reader) (int64, error) {
				if f.Name == "" {
					// cabextract refuses such a cabinet: the member cannot be named on disk.
					return 0, fmt.Errorf("member %d (%d bytes in folder %d): empty name, not a usable file name (cabextract refuses it too)", i, f.Size, f.Folder)
				}
				var dst io.Writer = io.Discard
				if h != nil {
					h.Reset()
					dst = h
				}
				n, err := io.Copy(ctxWriter{ctx, dst}, r)
				if err == nil && h != nil {
					fmt.Fprintf(out, "%s %d %s\n", hex.EncodeToString(h.Sum(nil)), n, displayName(f.Name))
				}
				return n, err
			})
			if err != nil {
				return err
			}
			if t.members == 0 {
				return fmt.Errorf("cab test: %s: the cabinet holds no member (cabextract refuses it too): an empty or damaged file, not a usable cabinet", args[0])
			}
			if err := t.failures("cab test", args[0]); err != nil {
				return err
			}
			if !withSHA {
				fmt.Fprintf(out, "%s: OK, %d members, %d bytes\n", args[0], t.members, t.total)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&withSHA, "sha256", false, `print "<sha256> <size> <name>" for each member`)
	lf = addLimitFlags(cmd)
	return cmd
}

// ctxWriter stops a copy when the command is interrupted; the check runs once per
// write, that is once per decoded frame.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (cw ctxWriter) Write(p []byte) (int, error) {
	if err := cw.ctx.Err(); err != nil {
		return 0, err
	}
	return cw.w.Write(p)
}

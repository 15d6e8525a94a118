package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/openwua/waptwua/internal/cab"
)

// memberTally counts what walkMembers saw: the members given to each, the ones that
// failed, and the bytes of the others.
type memberTally struct {
	members, failed int
	total           int64
}

// walkMembers calls each for the members of c that keep accepts (every member when keep
// is nil), with the member's number counting from 1. A member for which each fails is
// reported on a FAILED line of out and counted, and the walk goes on with the next
// one; the walk stops when ctx ends. The error names the command (cmdName, e.g.
// "cab test") and the cabinet file.
func walkMembers(ctx context.Context, out io.Writer, c *cab.Cabinet, cmdName, file string,
	keep func(*cab.File) bool, each func(i int, f *cab.File, r io.Reader) (int64, error)) (memberTally, error) {
	var t memberTally
	err := c.Walk(func(f *cab.File, r io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if keep != nil && !keep(f) {
			return nil
		}
		t.members++
		n, err := each(t.members, f, r)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.failed++
			fmt.Fprintf(out, "FAILED %s\n", cliError(err))
			return nil
		}
		t.total += n
		return nil
	})
	if errors.Is(err, context.Canceled) {
		return t, fmt.Errorf("%s: %s: interrupted", cmdName, file)
	}
	if err != nil {
		return t, fmt.Errorf("%s: %s: %w", cmdName, file, err)
	}
	return t, nil
}

// failures is the error of a walk in which members failed, nil if none did.
func (t memberTally) failures(cmdName, file string) error {
	if t.failed == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s: %d of %d members failed (see the FAILED lines)", cmdName, file, t.failed, t.members)
}

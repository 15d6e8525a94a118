package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCabExtractCmd: being written (see docs/adr/0001-cabinet-lzx-api.md).
func newCabExtractCmd() *cobra.Command {
	return &cobra.Command{Use: "extract FILE", Short: "not implemented yet", RunE: func(*cobra.Command, []string) error {
		return errors.New("cab extract: not implemented yet")
	}}
}

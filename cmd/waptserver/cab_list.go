package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCabListCmd: being written (see docs/adr/0001-cabinet-lzx-api.md).
func newCabListCmd() *cobra.Command {
	return &cobra.Command{Use: "list FILE", Short: "not implemented yet", RunE: func(*cobra.Command, []string) error {
		return errors.New("cab list: not implemented yet")
	}}
}

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCabTestCmd: being written (see docs/adr/0001-cabinet-lzx-api.md).
func newCabTestCmd() *cobra.Command {
	return &cobra.Command{Use: "test FILE", Short: "not implemented yet", RunE: func(*cobra.Command, []string) error {
		return errors.New("cab test: not implemented yet")
	}}
}

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCabVerifyCmd: being written (see docs/adr/0001-cabinet-lzx-api.md).
func newCabVerifyCmd() *cobra.Command {
	return &cobra.Command{Use: "verify FILE", Short: "not implemented yet", RunE: func(*cobra.Command, []string) error {
		return errors.New("cab verify: not implemented yet")
	}}
}

package main

import "github.com/spf13/cobra"

// newCabCmd groups the cabinet commands. Each subcommand lives in its own file.
func newCabCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cab", Short: "Inspect, test, extract and verify Microsoft cabinet files"}
	cmd.AddCommand(newCabListCmd(), newCabTestCmd(), newCabExtractCmd(), newCabVerifyCmd())
	return cmd
}

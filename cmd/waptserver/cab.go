package main

import "github.com/spf13/cobra"

// newCabCmd groups the cabinet commands (list, test, extract, verify).
func newCabCmd() *cobra.Command {
	return &cobra.Command{Use: "cab", Short: "Inspect, test, extract and verify Microsoft cabinet files"}
}

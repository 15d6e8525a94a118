package main

import "github.com/spf13/cobra"

// newCatalogCmd groups the catalog commands (dump, stats, synth).
func newCatalogCmd() *cobra.Command {
	return &cobra.Command{Use: "catalog", Short: "Read and generate wsusscn2.cab update catalogs"}
}

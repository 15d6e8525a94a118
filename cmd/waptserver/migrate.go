package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date and exit",
		Long: `Apply the database migrations the binary embeds, then exit. "serve" does it at start
too; run this before starting several replicas of a new version on one PostgreSQL
database, or to check the database settings. Safe to run any number of times.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			st, desc, err := openStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "%s: schema up to date\n", desc)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

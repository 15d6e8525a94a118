package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/server"
)

// newCatalogSyncCmd runs the catalog sync job once, as the server does each day:
// download wsusscn2.cab from wsusscn2_url, check it, publish it and import it.
func newCatalogSyncCmd() *cobra.Command {
	var (
		f        serverFlags
		force    bool
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "sync [--config waptserver.ini] [--force]",
		Short: "Run the catalog sync now: download, check, publish and import wsusscn2.cab as the daily job does",
		Long: "sync runs the server's catalog sync job once in this process, with the database, the repository folder " +
			"and the wsusscn2_url of the configuration, and prints the outcome. A running server syncs on its own; " +
			"this command is for a first import, scripts and benchmarks.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, err := parseLevel(logLevel)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
				return fmt.Errorf("data folder: %w", err)
			}
			ctx := cmd.Context()
			st, _, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			rp, err := repo.Open(cfg.WaptwuaFolder, repo.WithLogger(log))
			if err != nil {
				return fmt.Errorf("repository folder (waptwua_folder): %w", err)
			}
			defer rp.Close()
			runner, err := newJobs(cfg, st, rp, log, server.NewMetrics(time.Now), nil) // one sync: no promotion check runs
			if err != nil {
				return err
			}
			defer runner.Close()
			begin := time.Now()
			row, err := runner.SyncCab(ctx, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "catalog sync %s in %.2f s: %d bytes, sha1 %s\n",
				row.Status, time.Since(begin).Seconds(), row.Size, row.SHA1)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "download the catalog even when Microsoft says it did not change")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	return cmd
}

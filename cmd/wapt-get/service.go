package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/agent"
)

// serviceName is the Windows service's name.
const serviceName = "waptwua"

func newServiceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Run the agent as a service: schedules, install at shutdown, commands from the server",
	}
	var asService bool
	run := &cobra.Command{
		Use:   "run",
		Short: "Run the service (as a Windows service when started by the service manager; elsewhere in the foreground until SIGINT/SIGTERM)",
		Long: "run serves schedules and commands. Started by the Windows service control manager it\n" +
			"registers with it (pre-shutdown installs, event log source waptwua); the manager is\n" +
			"detected, and --as-service (or WAPTWUA_SERVICE=1) says so where the detection fails\n" +
			"(service install puts --as-service in the service's command line).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runService(signalContext(cmd), g, asService) },
	}
	run.Flags().BoolVar(&asService, "as-service", false, "run under the Windows service control manager (no detection)")
	cmd.AddCommand(run, &cobra.Command{
		Use:   "install",
		Short: "Install the Windows service (automatic start, pre-shutdown notification for install_at_shutdown)",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return installService(g) },
	}, &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the Windows service",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return uninstallService(g) },
	})
	return cmd
}

// serve runs the agent's service loop until ctx ends.
func serve(ctx context.Context, a *agent.Agent) error {
	return a.Serve(ctx, agent.ServeOptions{Boot: bootTime(time.Now())})
}

// Command waptserver is the update management server: it reads Microsoft's offline
// catalog, serves agents and the console, and fetches only the update files hosts need.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code. Errors are printed
// as one line on stderr; a panic is never shown to the user as a trace.
func run(args []string, stdout, stderr io.Writer) (code int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "waptserver: internal error: %v (please report this as a bug)\n", r)
			code = 2
		}
	}()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "waptserver: %v\n", err)
		return exitCode(err)
	}
	return 0
}

// exitCoder lets a command choose its exit status.
type exitCoder interface{ ExitCode() int }

func exitCode(err error) int {
	if ec, ok := err.(exitCoder); ok {
		return ec.ExitCode()
	}
	return 1
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "waptserver",
		Short:         "Windows update management server (catalog, repository, agents, console)",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newCabCmd())
	root.AddCommand(newCatalogCmd())
	root.AddCommand(newServeCmd())
	root.AddCommand(newMigrateCmd())
	root.AddCommand(newUserCmd())
	root.AddCommand(newRulesCmd())
	root.AddCommand(newPackagesCmd())
	root.AddCommand(newDemoCmd())
	root.AddCommand(newAgentInstallerCmd())
	root.AddCommand(newMirrorCmd())
	return root
}

// Command wuafleet simulates a fleet of agents against a waptserver: today the ingest
// load generator ("wuafleet ingest"), which registers many hosts through the agent API
// and has each post one full scan report, and measures how fast the server takes them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code: 0 on success, 1 on
// any error (printed as one line on stderr), 2 for an internal error.
func run(args []string, stdout, stderr io.Writer) (code int) {
	// os.Interrupt only: the command also builds for Windows, where SIGTERM does not exist.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "wuafleet: internal error: %v (please report this as a bug)\n", r)
			code = 2
		}
	}()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "wuafleet: %v\n", err)
		return 1
	}
	return 0
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "wuafleet",
		Short:         "Fleet simulator and load generator for waptserver",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newIngestCmd(stdout, stderr))
	root.AddCommand(newPagesCmd(stdout, stderr))
	return root
}

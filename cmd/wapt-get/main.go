// Command wapt-get is the WAPTWUA agent: it scans the host against Microsoft's offline
// catalog, applies the update rules, reports to waptserver, downloads and installs the
// allowed updates, on demand (waptwua-scan, -download, -install, -status) or as a
// service (service run) on schedule and on commands pushed by the server.
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

// run executes the command line and returns the process exit code: 0 on success, 1 on
// any error (printed as one line on stderr), 2 for an internal error. A panic is never
// shown to the user as a trace.
func run(args []string, stdout, stderr io.Writer) (code int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "wapt-get: internal error: %v (please report this as a bug)\n", r)
			code = 2
		}
	}()
	g := &globals{stdout: stdout, stderr: stderr}
	defer g.close()
	root := newRootCmd(g)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "wapt-get: %v\n", err)
		return 1
	}
	return 0
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "wapt-get",
		Short: "WAPTWUA agent: scan, report, download and install Windows updates under the server's rules",
		Long: "wapt-get manages Windows updates with the WAPT Windows Update Agent rules: it downloads\n" +
			"wsusscn2.cab from the repository, scans offline, decides each update with the rules,\n" +
			"reports to the server, and downloads and installs what is allowed.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	g.flags(root)
	root.AddCommand(
		newCycleCmd(g, "waptwua-scan", "Scan against the current rules and report (rescans only when the cab, the rules or the install history changed, unless --force)"),
		newCycleCmd(g, "waptwua-download", "Scan, download the files of the allowed updates, and report"),
		newCycleCmd(g, "waptwua-install", "Install the pending updates (downloading what is missing) and report"),
		newStatusCmd(g),
		newRegisterCmd(g),
		newServiceCmd(g),
		newPolicyCmd(g),
	)
	return root
}

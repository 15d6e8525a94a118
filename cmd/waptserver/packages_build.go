package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/updatebuild"
)

// newPackagesCmd groups the commands of update packages (the .msu, .cab, driver,
// uninstall and feature-upgrade packages the scan catalog does not cover).
func newPackagesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "packages",
		Short: "Build signed update packages: out-of-band .msu, .cab, drivers, KB uninstalls, feature upgrades",
	}
	cmd.AddCommand(
		newRulesPublishCmd(), // the same upload; an update package's payload folder follows it
		newPackagesBuildCmd("build-msu FILE.msu", "Build a package installing an .msu from the Microsoft Update Catalog (wusa)", 1,
			func(args []string, o *packagesBuildOptions) (*updatebuild.Plan, error) {
				return updatebuild.FromMSU(args[0], o.meta)
			}),
		newPackagesBuildCmd("build-cab FILE.cab", "Build a package adding a servicing .cab (DISM)", 1,
			func(args []string, o *packagesBuildOptions) (*updatebuild.Plan, error) {
				return updatebuild.FromCab(args[0], o.kb, o.meta)
			}),
		newPackagesBuildCmd("build-driver DIR", "Build a package adding the driver of a folder (.inf, .sys, .cat) with pnputil", 1,
			func(args []string, o *packagesBuildOptions) (*updatebuild.Plan, error) {
				return updatebuild.FromDriverDir(args[0], o.inf, o.meta)
			}),
		newPackagesBuildCmd("build-uninstall --kb N", "Build a package uninstalling a KB (wusa /uninstall)", 0,
			func(_ []string, o *packagesBuildOptions) (*updatebuild.Plan, error) {
				if o.kb == "" {
					return nil, errors.New("--kb is required (the KB to uninstall, e.g. --kb 4023057)")
				}
				return updatebuild.KBUninstall(o.kb, o.meta)
			}),
		newPackagesBuildCmd("build-upgrade DIR", "Build a feature upgrade package from a folder of Windows installation media (setup.exe)", 1,
			func(args []string, o *packagesBuildOptions) (*updatebuild.Plan, error) {
				if o.minFreeGB < 0 {
					return nil, fmt.Errorf("--min-free-gb %d: want a positive number of GiB", o.minFreeGB)
				}
				return updatebuild.FromUpgradeDir(args[0], o.minFreeGB<<30, o.meta)
			}),
	)
	return cmd
}

type packagesBuildOptions struct {
	meta      updatebuild.Meta
	out       string
	kb, inf   string
	minFreeGB int64
	signer    signerFlags
}

func newPackagesBuildCmd(use, short string, nargs int, plan func([]string, *packagesBuildOptions) (*updatebuild.Plan, error)) *cobra.Command {
	o := &packagesBuildOptions{}
	name := strings.Fields(use)[0]
	cmd := &cobra.Command{
		Use:   use + " --key KEY.pem --cert CERT.pem [-o DIR]",
		Short: short,
		Long: short + `.

The package NAME_VERSION.wapt is written to -o (default: the current folder), signed with
--key and --cert like rules packages; its payload files go to NAME_VERSION.payload/ next
to it (the signed manifest lists each with its SHA-256). Publish both to the repository.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != nargs {
				return fmt.Errorf("packages %s: expected %d argument(s), got %d (usage: waptserver packages %s --key KEY.pem --cert CERT.pem)", name, nargs, len(args), use)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPackagesBuild(cmd.OutOrStdout(), "packages "+name, func() (*updatebuild.Plan, error) { return plan(args, o) }, o, time.Now)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.meta.Name, "name", "", "package name (default: from the payload, e.g. waptwua-kb5034441-amd64)")
	f.StringVar(&o.meta.Version, "version", "1-0", "package version")
	f.StringVar(&o.meta.Maturity, "maturity", pkg.MaturityProd, "PROD (every host) or PREPROD (hosts configured for PREPROD only)")
	f.StringVar(&o.meta.Description, "description", "", "one-line description (default: from the payload)")
	f.StringVar(&o.meta.Maintainer, "maintainer", "", "who maintains the package")
	f.StringArrayVar(&o.meta.TargetGroups, "target-group", nil, "host group the package is meant for (repeat for several)")
	f.IntVar(&o.meta.PromoteAfterDays, "promote-after-days", 0, "a PREPROD package may be promoted to PROD after this many days (0: never automatically)")
	f.IntVar(&o.meta.PromoteMinSuccessPct, "promote-min-success-pct", 0, "...if at least this percentage of its PREPROD hosts succeeded (0-100)")
	f.IntVar(&o.meta.TimeoutSeconds, "timeout", 0, "seconds the action may run before it is killed (0: the kind's default)")
	f.StringVarP(&o.out, "output", "o", ".", "folder to write the package and its payload folder to")
	switch name {
	case "build-cab":
		f.StringVar(&o.kb, "kb", "", "KB number the .cab carries (optional; lets the agent tell the scan it is installed)")
	case "build-uninstall":
		f.StringVar(&o.kb, "kb", "", "KB number to uninstall (required)")
	case "build-driver":
		f.StringVar(&o.inf, "inf", "", "the .inf to install, when the folder has several")
	case "build-upgrade":
		f.Int64Var(&o.minFreeGB, "min-free-gb", updatebuild.DefaultMinFreeBytes>>30, "free space (GiB) the system drive needs before setup runs")
	}
	o.signer.add(cmd)
	return cmd
}

// runPackagesBuild plans, builds and signs an update package and writes it with its
// payload folder under o.out. Nothing is left behind on failure.
func runPackagesBuild(w io.Writer, what string, plan func() (*updatebuild.Plan, error), o *packagesBuildOptions, now func() time.Time) (err error) {
	key, chain, err := o.signer.load(what)
	if err != nil {
		return err
	}
	p, err := plan()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	up, err := pkg.BuildUpdate(p.Spec)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	z, err := pkg.SignUpdate(up, key, chain, now())
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	base := up.Control.Package + "_" + up.Control.Version
	waptPath := filepath.Join(o.out, base+".wapt")
	payloadDir := filepath.Join(o.out, base+".payload")
	for _, p := range []string{waptPath, payloadDir} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %s already exists (remove it, or give a new --version)", what, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if len(up.Action.Files) > 0 {
		if err := os.Mkdir(payloadDir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer func() {
			if err != nil {
				os.RemoveAll(payloadDir)
			}
		}()
		if err := updatebuild.CopyPayload(p, payloadDir); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		// The copies are what will be published: check them against the signed hashes.
		if err := pkg.CheckPayloadDir(payloadDir, up.Action); err != nil {
			return fmt.Errorf("%s: a payload file changed while it was packaged: %w", what, err)
		}
	}
	if err := rulesWriteFile(waptPath, z); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	a := up.Action
	var size int64
	for _, f := range a.Files {
		size += f.Size
	}
	fmt.Fprintf(w, "wrote %s: %s %s, %s", waptPath, up.Control.Package, up.Control.Version, a.Kind)
	if a.KB != "" {
		fmt.Fprintf(w, " KB%s", a.KB)
	}
	if a.Architecture != "" {
		fmt.Fprintf(w, " (%s)", a.Architecture)
	}
	fmt.Fprintf(w, ", maturity %s, signed by %s\n", up.Control.Maturity, chain[0].Subject.CommonName)
	if len(a.Files) > 0 {
		fmt.Fprintf(w, "payload: %s (%d files, %d bytes)\n", payloadDir, len(a.Files), size)
	}
	if p.MSU != nil && p.MSU.AppliesTo != "" {
		fmt.Fprintf(w, "applies to: %s\n", p.MSU.AppliesTo)
	}
	if p.Warning != "" {
		fmt.Fprintln(w, p.Warning)
	}
	return nil
}

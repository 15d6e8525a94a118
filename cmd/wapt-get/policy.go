package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newPolicyCmd applies or restores the Windows Update policies by hand, as the service
// does at start from the [waptwua] enabled key.
func newPolicyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "waptwua-policy set|restore",
		Short: "Set the Windows Update policies that leave updates to wapt-get (saving the previous values), or restore them",
		Long: "set writes the Windows Update policies that stop Windows from updating on its own\n" +
			"(the previous values are saved first); restore puts the saved values back. The\n" +
			"service does the same at start according to [waptwua] enabled.",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"set", "restore"},
		RunE: func(_ *cobra.Command, args []string) error {
			var enabled bool
			switch args[0] {
			case "set":
				enabled = true
			case "restore":
			default:
				return fmt.Errorf("waptwua-policy %q: use set or restore", args[0])
			}
			p, err := nativePolicy()
			if err != nil {
				return err
			}
			if err := p.Apply(&enabled); err != nil {
				return fmt.Errorf("Windows Update policies: %w", err)
			}
			fmt.Fprintf(g.stdout, "Windows Update policies %s\n", map[bool]string{true: "set (previous values saved)", false: "restored"}[enabled])
			return nil
		},
	}
}
